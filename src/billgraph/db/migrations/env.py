"""Alembic environment: runs migrations over asyncpg, one process at a time."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from billgraph.db.citus import distribute
from billgraph.db.engine import make_engine
from billgraph.models import metadata

MIGRATION_LOCK = 7_400_201  # advisory lock key: several servers may start at once


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        context.run_migrations()
        distribute(connection)  # on Citus: place the tables new migrations created


async def run_async() -> None:
    url = context.config.attributes.get("database_url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        from billgraph.config import get_settings

        url = get_settings().database_url
    if not url:
        raise RuntimeError("no database URL: set DATABASE_URL")
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
asyncio.run(run_async())
