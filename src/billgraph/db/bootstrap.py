"""Find or start the database, migrate it, and create the first tenant."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

from billgraph.config import Settings
from billgraph.db.engine import asyncpg_dsn, make_engine
from billgraph.db.migrate import upgrade

log = logging.getLogger(__name__)
T = TypeVar("T")
EMBEDDED_DATABASE = "billgraph"


@dataclass
class Database:
    url: str
    embedded: object | None  # EmbeddedPostgres when this process uses one

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()  # type: ignore[attr-defined]


def open_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The configured PostgreSQL, or the embedded one in settings.data_dir."""
    embedded = None
    if settings.database_url:
        url = settings.database_url
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
            from billgraph.db.embedded import EmbeddedPostgres
        embedded = EmbeddedPostgres(settings.data_dir)
        embedded.start()
        asyncio.run(ensure_database(embedded.url("postgres"), EMBEDDED_DATABASE))
        url = embedded.url(EMBEDDED_DATABASE)
    if migrate:
        upgrade(url)
    return Database(url, embedded)


async def ensure_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except asyncpg.DuplicateDatabaseError:
                pass
    finally:
        await conn.close()


def run_with_connection(url: str, work: Callable[..., Awaitable[T]]) -> T:
    """Run `work(conn)` in one committed transaction (for CLI commands)."""

    async def main() -> T:
        engine = make_engine(url, pool_size=1, max_overflow=0)
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(main())
