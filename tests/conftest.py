"""One PostgreSQL per test run, a migrated template database, a cheap copy per test.

With DATABASE_URL set, that server is used (its user must be allowed to create
databases); otherwise an embedded PostgreSQL is started in a temporary directory.

With `--citus` (or BILLGRAPH_TEST_CITUS=1) a Citus cluster is started instead: a
coordinator and 2 workers from the embedded PostgreSQL (Citus built into it with
../shared/citus/build.sh), one distributed database migrated once and shared by every
test; a test is isolated by its fresh tenant (the `client` fixture) instead of a copy.
Tests drive a real uvicorn server over HTTP and websockets, like a client.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from billgraph.db.engine import asyncpg_dsn, make_engine
from billgraph.db.migrate import upgrade
from tests.processes import ServerProcess, serve_processes, start
from tests.support import Client, LiveServer, start_server

if TYPE_CHECKING:
    from billgraph.db.embedded_citus import CitusCluster

_counter = itertools.count()

# Property tests check what the code does, not how fast it runs (that is bench/'s job): on
# a busy 2-core CI machine generating an example can take seconds, so neither hypothesis'
# deadline nor its too-slow health check applies.
settings.register_profile("billgraph", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("billgraph")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--citus", action="store_true",
                     help="run on a Citus coordinator + 2 workers (embedded PostgreSQL)")


def citus_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--citus")) or os.environ.get("BILLGRAPH_TEST_CITUS") == "1"


@dataclass
class PgCluster:
    admin_url: str
    template: str
    server_version: int
    # on Citus, and with BILLGRAPH_TEST_SERVE_WORKERS=N: the one database every test uses
    shared_database: str | None = None
    citus: CitusCluster | None = None  # on Citus: the cluster (for a database of one's own)

    def url(self, database: str) -> str:
        return make_url(self.admin_url).set(database=database).render_as_string(
            hide_password=False)


@pytest.fixture(scope="session")
def pg_cluster(request: pytest.FixtureRequest) -> Iterator[PgCluster]:
    if citus_mode(request.config):
        yield from _citus_cluster()
        return
    external = os.environ.get("DATABASE_URL")
    embedded = None
    tmp = None
    if external:
        admin_url = make_url(external).set(database="postgres").render_as_string(
            hide_password=False)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from billgraph.db.embedded import EmbeddedPostgres
        tmp = Path(tempfile.mkdtemp(prefix="billgraph-test-"))
        embedded = EmbeddedPostgres(tmp, fast=True)
        embedded.start()
        admin_url = embedded.url("postgres")
    template = f"billgraph_template_{os.getpid()}"

    async def prepare() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{template}"')
            await conn.execute(f'CREATE DATABASE "{template}"')
            return int(await conn.fetchval("SHOW server_version_num"))
        finally:
            await conn.close()

    version = asyncio.run(prepare())
    cluster = PgCluster(admin_url, template, version)
    upgrade(cluster.url(template))
    if SERVE_PROCESSES > 1:  # one database and one `serve --workers N` for the whole run
        cluster.shared_database = f"billgraph_shared_{os.getpid()}"
        asyncio.run(admin_sql(cluster, f'CREATE DATABASE "{cluster.shared_database}" '
                                       f'TEMPLATE "{template}"'))
    try:
        yield cluster
    finally:
        async def drop() -> None:
            conn = await asyncpg.connect(asyncpg_dsn(admin_url))
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
                if cluster.shared_database is not None:
                    await conn.execute(
                        f'DROP DATABASE IF EXISTS "{cluster.shared_database}" WITH (FORCE)')
            finally:
                await conn.close()

        asyncio.run(drop())
        if embedded is not None:
            embedded.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _citus_cluster() -> Iterator[PgCluster]:
    from billgraph.db.embedded_citus import CitusCluster

    tmp = Path(tempfile.mkdtemp(prefix="billgraph-citus-test-"))
    cluster = CitusCluster(tmp, workers=2, shard_count=4)  # few shards: cheap DDL
    try:
        cluster.start()
        asyncio.run(cluster.create_database("billgraph_citus"))
        upgrade(cluster.url("billgraph_citus"))

        async def version() -> int:
            conn = await asyncpg.connect(asyncpg_dsn(cluster.url()))
            try:
                return int(await conn.fetchval("SHOW server_version_num"))
            finally:
                await conn.close()

        yield PgCluster(cluster.url(), "billgraph_citus", asyncio.run(version()),
                        shared_database="billgraph_citus", citus=cluster)
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def admin_sql(pg_cluster: PgCluster, sql: str) -> None:
    """One statement on the cluster's admin database (CREATE / DROP DATABASE)."""
    conn = await asyncpg.connect(asyncpg_dsn(pg_cluster.admin_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def database_url(pg_cluster: PgCluster) -> AsyncIterator[str]:
    """A fresh, migrated database for one test (a copy of the template); on Citus, and
    with BILLGRAPH_TEST_SERVE_WORKERS=N, the shared database (the test's tenant isolates
    it)."""
    if pg_cluster.shared_database is not None:
        yield pg_cluster.url(pg_cluster.shared_database)
        return
    name = f"billgraph_test_{os.getpid()}_{next(_counter)}"
    strategy = " STRATEGY = FILE_COPY" if pg_cluster.server_version >= 150000 else ""
    await admin_sql(pg_cluster,
                    f'CREATE DATABASE "{name}" TEMPLATE "{pg_cluster.template}"{strategy}')
    yield pg_cluster.url(name)
    await admin_sql(pg_cluster, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The server's kind of engine (db.engine.make_engine) on the test's database, a small
    pool (a module that needs other settings defines its own)."""
    engine = make_engine(database_url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def blank_database_url(pg_cluster: PgCluster) -> AsyncIterator[str]:
    """A database of the test's own, not migrated: on one PostgreSQL an empty database, on
    Citus a distributed one (created on every node, the workers added; a second or two)."""
    name = f"billgraph_blank_{os.getpid()}_{next(_counter)}"
    if pg_cluster.citus is not None:
        await pg_cluster.citus.create_database(name)
    else:
        await admin_sql(pg_cluster, f'CREATE DATABASE "{name}"')
    try:
        yield pg_cluster.url(name)
    finally:
        if pg_cluster.citus is not None:
            await pg_cluster.citus.drop_database(name)
        else:
            await admin_sql(pg_cluster, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_database_url(pg_cluster: PgCluster, database_url: str) -> AsyncIterator[str]:
    """A migrated database without any tenant, for the few tests of an empty database:
    on one PostgreSQL `database_url` (already a fresh copy of the template), on Citus a
    distributed database of the test's own, migrated (a few seconds)."""
    if pg_cluster.shared_database is None:
        yield database_url
        return
    name = f"billgraph_empty_{os.getpid()}_{next(_counter)}"
    if pg_cluster.citus is None:  # the shared database of BILLGRAPH_TEST_SERVE_WORKERS=N
        await admin_sql(pg_cluster, f'CREATE DATABASE "{name}" TEMPLATE "{pg_cluster.template}"')
        try:
            yield pg_cluster.url(name)
        finally:
            await admin_sql(pg_cluster, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    await pg_cluster.citus.create_database(name)
    try:
        await asyncio.to_thread(upgrade, pg_cluster.url(name))
        yield pg_cluster.url(name)
    finally:
        await pg_cluster.citus.drop_database(name)


# BILLGRAPH_TEST_SERVE_WORKERS=2: the `server` fixture is `billgraph serve --workers 2`,
# one for the whole run on the shared database (tests isolated by tenant, as on Citus):
# starting 3 Python processes per test made the API suite take an hour on 2 cores.
SERVE_PROCESSES = int(os.environ.get("BILLGRAPH_TEST_SERVE_WORKERS", "1"))


@pytest.fixture(scope="session")
def shared_serve(pg_cluster: PgCluster) -> Iterator[ServerProcess]:
    """`billgraph serve --workers N --no-workers` on the shared database, for the run."""
    assert pg_cluster.shared_database is not None
    server = start(pg_cluster.url(pg_cluster.shared_database), workers=False,
                   settings={"workers": SERVE_PROCESSES}, timeout=300)
    try:
        yield server
    finally:
        server.stop()
        server.log_file.close()


@pytest.fixture
async def server(request: pytest.FixtureRequest, pg_cluster: PgCluster,
                 database_url: str) -> AsyncIterator[LiveServer]:
    """billgraph served by uvicorn on a free port (background workers off); with
    BILLGRAPH_TEST_SERVE_WORKERS=N, by `billgraph serve --workers N` in a process of
    its own, started once for the run (the API tests against N processes on one port)."""
    if SERVE_PROCESSES > 1:
        if pg_cluster.shared_database is not None \
                and database_url == pg_cluster.url(pg_cluster.shared_database):
            shared: ServerProcess = request.getfixturevalue("shared_serve")
            if shared.proc.poll() is not None:
                raise RuntimeError(f"the shared server exited:\n{shared.log()}")
            async with httpx.AsyncClient(base_url=shared.url, timeout=60) as http:
                yield LiveServer(shared.url, database_url, http)
            return
        async with serve_processes(database_url, SERVE_PROCESSES) as live:
            yield live
        return
    async with start_server(database_url, run_workers=False) as live:
        yield live


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[Client]:
    """A client of a fresh tenant with a write key."""
    async with server.new_tenant(f"tenant-{uuid.uuid4().hex[:8]}") as c:
        yield c
