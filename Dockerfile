# billgraph: a slim, non-root image that serves GraphQL against DATABASE_URL.
#   docker build -t billgraph .
#   docker run -e DATABASE_URL=postgresql://user:pass@db:5432/billgraph -p 8000:8000 billgraph
FROM python:3.12-slim AS build
WORKDIR /src
RUN python -m venv /opt/billgraph
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
RUN /opt/billgraph/bin/pip install --no-cache-dir .

FROM python:3.12-slim
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
