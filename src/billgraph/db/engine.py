"""Engine and connection helpers: one pool per process, short transactions."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import await_


def async_url(url: str) -> str:
    """The SQLAlchemy asyncpg URL for a libpq-style PostgreSQL URL."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """A plain postgresql:// DSN (for raw asyncpg connections, LISTEN, COPY)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


# A pooled connection idle for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 1.0


# Where a connection records the lock_timeout it was opened with (see db.tx.write).
LOCK_TIMEOUT_KEY = "billgraph_lock_timeout_ms"


def make_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10,
                lock_timeout_ms: int | None = None, generic_plans: bool = False) -> AsyncEngine:
    """The process's pool. `lock_timeout_ms`: open connections with this lock_timeout, so
    a write transaction wanting exactly it need not SET it (one round trip less per write);
    SELECTs never wait for row locks, so reads are unaffected. `generic_plans`: with
    plan_cache_mode=force_generic_plan, so a prepared statement (asyncpg prepares every
    one, cached per connection) is planned once, not at each execution — except on a
    Citus coordinator, which cannot plan a distributed statement generically ("could not
    create distributed plan") and plans router queries cheaply itself."""
    settings = {"application_name": "billgraph"}
    if lock_timeout_ms is not None:
        settings["lock_timeout"] = str(int(lock_timeout_ms))
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        connect_args={"server_settings": settings},
    )
    ping_when_idle(engine)
    placed(engine, generic_plans)
    if lock_timeout_ms is not None:
        @event.listens_for(engine.sync_engine.pool, "connect")
        def _opened(dbapi_connection: Any, record: Any) -> None:
            record.info[LOCK_TIMEOUT_KEY] = int(lock_timeout_ms)
    return engine


def ping_when_idle(engine: AsyncEngine) -> None:
    """Hand out only live connections, like `pool_pre_ping`, without its price under load.

    pool_pre_ping pings on EVERY checkout, and SQLAlchemy's asyncpg ping is BEGIN, `;`,
    ROLLBACK: three round trips, twice per mutation (its write, then its read), which
    cost more than the mutation's own statements (bench/RESULTS.md). A connection
    checked in less than IDLE_PING_SECONDS ago was just used successfully; one that sat
    idle longer — across a database restart, say — is pinged; one whose socket is
    already known closed is replaced without a round trip. A failed ping makes the pool
    discard the connection and check out another (the documented DisconnectionError
    protocol of pool events)."""

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("the connection is closed")
        since = record.info.get("checked_in_at")
        if since is not None and time.monotonic() - since > IDLE_PING_SECONDS:
            try:
                dbapi_connection.ping()
            except Exception as error:
                raise exc.DisconnectionError(f"the idle connection failed a ping: {error}") \
                    from error


CITUS = "SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')"
# Where a connection records whether its database is a Citus coordinator (`on_citus`).
CITUS_KEY = "billgraph_citus"


# Where a connection records that it plans every statement generically (`placed`).
GENERIC_PLANS_KEY = "billgraph_generic_plans"


def plans_generically(conn: AsyncConnection) -> bool:
    """Whether `conn` (of an engine from make_engine) was opened with
    plan_cache_mode=force_generic_plan."""
    return bool(conn.info.get(GENERIC_PLANS_KEY))


def on_citus(conn: AsyncConnection) -> bool:
    """Whether `conn` (of an engine from make_engine) is to a Citus coordinator: read
    once per new connection. A statement that must run on the coordinator (a sequence's
    nextval) cannot ride along with a query Citus sends to a worker."""
    return bool(conn.info.get(CITUS_KEY))


async def numeric_as_text(driver: Any) -> None:
    """Send and read `numeric` values of an asyncpg connection in PostgreSQL's text form:
    `str(Decimal)` out, `Decimal(text)` in, exact either way (NaN and ±Infinity
    included). asyncpg's binary numeric codec is the slow part of big writes: 10,000
    Decimals in a numeric[] parameter cost it ~40 ms to encode against ~19 ms as text,
    and reading them back ~1.6 x as long (bench/RESULTS.md, issue 13 session 9)."""
    await driver.set_type_codec("numeric", schema="pg_catalog", encoder=str, decoder=Decimal,
                                format="text")


def placed(engine: AsyncEngine, generic_plans: bool) -> None:
    """Record on each new connection whether its database is a Citus coordinator, and
    open it with plan_cache_mode=force_generic_plan (`generic_plans`) unless it is one
    (statements outside any transaction, so the setting lasts for the session); its
    numerics travel as text (`numeric_as_text`)."""

    @event.listens_for(engine.sync_engine.pool, "connect")
    def _placed(dbapi_connection: Any, record: Any) -> None:
        driver = dbapi_connection.driver_connection
        await_(numeric_as_text(driver))
        citus = bool(await_(driver.fetchval(CITUS)))
        record.info[CITUS_KEY] = citus
        if generic_plans and not citus:
            await_(driver.execute("SET plan_cache_mode = force_generic_plan"))
            record.info[GENERIC_PLANS_KEY] = True
