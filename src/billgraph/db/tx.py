"""Write transactions: short, retried on lock competition, events after commit.

Every write runs through `write()`: one transaction with a bounded lock timeout.
When it cannot get a lock in time (or loses a deadlock or serialization race)
the whole transaction is retried from scratch with jittered backoff; only when
the budget is spent does the client get LOCK_COMPETITION (retryable). A transaction
whose database session ends before it commits (its backend terminated, the server
restarted) is retried the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billgraph.db import raw
from billgraph.db.engine import LOCK_TIMEOUT_KEY
from billgraph.services.errors import LockCompetition

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE_SQLSTATES = {"55P03", "40P01", "40001"}  # lock_not_available, deadlock, serialization
# The server ended the session (pg_terminate_backend, a restart) or the connection broke.
CONNECTION_LOST_SQLSTATES = {"57P01", "57P02", "57P03", "08000", "08003", "08006"}


@dataclass
class Writer:
    """The connection of one write transaction, the accounts it touched (for the audit
    trail), those whose metrics it recomputed (for the events after commit) and the
    writes it deferred to its end (`later`: one statement before COMMIT)."""

    conn: AsyncConnection
    tenant_id: uuid.UUID
    recomputed: set[uuid.UUID] = field(default_factory=set)
    accounts: set[uuid.UUID] = field(default_factory=set)
    later: raw.Later = field(init=False)

    def __post_init__(self) -> None:
        self.later = raw.Later(self.tenant_id)


class Database(Protocol):
    """What a service that runs its own transactions needs (AppState is one): short read
    connections and retried write transactions."""

    def read(self) -> AsyncConnection: ...

    async def write(self, tenant_id: uuid.UUID, work: Callable[[Writer], Awaitable[T]]) -> T: ...


AfterCommit = Callable[[uuid.UUID, set[uuid.UUID]], Awaitable[None]]


def sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def unique_violation(error: BaseException) -> bool:
    """A unique key was taken: SQLSTATE 23505, or the same error as Citus reports it when
    it wrote the rows of an INSERT … SELECT through the coordinator (SQLSTATE XX000,
    the worker's message kept)."""
    return sqlstate(error) == "23505" or (
        sqlstate(error) == "XX000"
        and "duplicate key value violates unique constraint" in str(getattr(error, "orig", "")))


def connection_lost(error: DBAPIError) -> bool:
    return bool(error.connection_invalidated) or sqlstate(error) in CONNECTION_LOST_SQLSTATES


async def write(
    engine: AsyncEngine,
    tenant_id: uuid.UUID,
    work: Callable[[Writer], Awaitable[T]],
    *,
    lock_timeout_ms: int = 2000,
    retries: int = 5,
    after_commit: AfterCommit | None = None,
) -> T:
    for attempt in range(retries):
        committing = False
        try:
            async with engine.begin() as conn:
                if conn.info.get(LOCK_TIMEOUT_KEY) != lock_timeout_ms:
                    await conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
                writer = Writer(conn, tenant_id)
                result = await work(writer)
                await writer.later.send(conn)
                committing = True
        except DBAPIError as error:
            if sqlstate(error) in RETRYABLE_SQLSTATES:
                log.info("write retried after %s (try %d)", sqlstate(error), attempt + 1)
            elif connection_lost(error) and not committing and attempt < retries - 1:
                # Lost before COMMIT was sent: nothing was written, so run it all again on
                # a new connection. (Lost during COMMIT, the outcome is unknown: the error
                # goes to the client, whose retry with the same idempotency key is safe.)
                log.warning("write lost its database connection (%s); retrying (try %d)",
                            sqlstate(error), attempt + 1)
            else:
                raise
            await asyncio.sleep(random.uniform(0, 0.05 * 2**attempt))
            continue
        if after_commit is not None and writer.recomputed:
            await after_commit(tenant_id, writer.recomputed)
        return result
    raise LockCompetition(
        "the account is busy with other writes; retry the request (or flag it as a partner account)"
    )


@contextlib.asynccontextmanager
async def read_only(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One READ ONLY transaction (REPEATABLE READ: one snapshot for all its statements),
    rolled back at the end: any write inside it fails (SQLSTATE 25006) — previews run
    here, so a write that slipped into their path could not go unnoticed."""
    async with engine.connect() as conn:
        await conn.begin()
        try:
            await conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            yield conn
        finally:
            await conn.rollback()


@contextlib.asynccontextmanager
async def rolled_back(engine: AsyncEngine, tenant_id: uuid.UUID, *,
                      lock_timeout_ms: int = 2000) -> AsyncIterator[Writer]:
    """A write transaction that never commits: what `work` writes is seen inside it and
    undone at the end (an order preview). No events: those follow a commit. Sequences
    are not rolled back — code run here must not call nextval."""
    async with engine.connect() as conn:
        await conn.begin()
        try:
            await conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
            writer = Writer(conn, tenant_id)
            yield writer
            await writer.later.send(conn)  # as before a COMMIT: its errors are the same
        except DBAPIError as error:
            if sqlstate(error) in RETRYABLE_SQLSTATES:  # as write() answers once out of tries
                raise LockCompetition("the accounts are busy with other writes; retry the "
                                      "preview") from error
            raise
        finally:
            await conn.rollback()
