"""`billgraph serve --workers N`: N server processes on one port, one PostgreSQL.

The CLI process finds or starts the database (the embedded PostgreSQL is started once,
here), migrates it, then hands the port to uvicorn's own multi-process mode: uvicorn
binds the socket and spawns N processes that accept on it, restarts one that dies, and
on Ctrl-C or SIGTERM stops them all; then the CLI stops the embedded PostgreSQL. Each
process builds the app from the CLI's settings (passed as JSON in the environment) with
its own pool, sized so that all of them fit the server's max_connections
(`pool_per_process`). Background workers run in every process: they claim their work
with row locks (SKIP LOCKED), so N processes divide it as N separate servers would.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import sys

import asyncpg
from starlette.applications import Starlette

from billgraph.config import Settings
from billgraph.db.engine import asyncpg_dsn

SETTINGS_ENV = "BILLGRAPH_SERVE_SETTINGS"
PARENT_ENV = "BILLGRAPH_SERVE_PARENT"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Connections a process opens beside its pool: the event hub's LISTEN and NOTIFY ones.
CONNECTIONS_BESIDE_POOL = 2
# Connections left for everything else: the CLI, migrations, backups, psql, monitoring.
HEADROOM = 10


class PoolSizeError(ValueError):
    """The processes' pools cannot fit the database server's max_connections."""


async def connection_limit(url: str) -> int:
    """max_connections less the slots reserved for superusers (and, from PostgreSQL 16,
    for pg_use_reserved_connections): what ordinary sessions can open."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            "SELECT current_setting('max_connections')::int AS max, "
            "current_setting('superuser_reserved_connections')::int "
            "+ coalesce(current_setting('reserved_connections', true)::int, 0) AS reserved")
        assert row is not None
        return int(row["max"]) - int(row["reserved"])
    finally:
        await conn.close()


def pool_per_process(settings: Settings, processes: int, limit: int) -> int:
    """Each process's pool: N × (pool + overflow + 2) + 10 ≤ the connection limit.

    An explicit BILLGRAPH_POOL_SIZE is kept, or refused when the processes cannot all
    open it; the default shrinks to fit."""
    fit = (limit - HEADROOM) // processes - settings.pool_overflow - CONNECTIONS_BESIDE_POOL
    explicit = "pool_size" in settings.model_fields_set
    if fit < 1 or (explicit and settings.pool_size > fit):
        wanted = settings.pool_size if explicit else 1
        raise PoolSizeError(
            f"{processes} processes × (pool {wanted} + overflow {settings.pool_overflow} + "
            f"{CONNECTIONS_BESIDE_POOL}) + {HEADROOM} spare connections exceed the "
            f"{limit} the database allows (max_connections less its reserved ones): "
            f"set BILLGRAPH_POOL_SIZE to at most {max(fit, 0)}, serve fewer processes, "
            "or raise max_connections")
    return settings.pool_size if explicit else min(settings.pool_size, fit)


def sized_for(settings: Settings, processes: int) -> Settings:
    """The settings each of `processes` processes serves with (database_url is set)."""
    assert settings.database_url
    limit = asyncio.run(connection_limit(settings.database_url))
    return settings.model_copy(update={"pool_size": pool_per_process(settings, processes,
                                                                      limit)})


def serve_processes(settings: Settings, *, host: str, port: int, processes: int) -> None:
    """Serve with `processes` uvicorn processes until Ctrl-C or SIGTERM."""
    import uvicorn

    os.environ[SETTINGS_ENV] = settings.model_dump_json(by_alias=True)
    os.environ[PARENT_ENV] = str(os.getpid())
    uvicorn.run("billgraph.serving:app_from_environment", factory=True, workers=processes,
                host=host, port=port, log_level=settings.log_level.lower(),
                ws="websockets-sansio", lifespan="on", log_config=None)


def stop_with_parent(parent: int) -> None:
    """SIGTERM this process when its supervisor dies, even SIGKILLed (Linux): a process
    serving on after it would keep the port and its connections with no one to stop it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # died before the prctl
        os.kill(os.getpid(), signal.SIGTERM)


def app_from_environment() -> Starlette:
    """The app of one of the processes (uvicorn imports and calls this in each)."""
    from billgraph.app import create_app
    from billgraph.observability import configure_logging

    stop_with_parent(int(os.environ[PARENT_ENV]))
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
