"""A fresh migrated database for a bench command: on DATABASE_URL's server, or on an
embedded PostgreSQL started in a temporary directory (removed afterwards)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from billgraph.db.engine import asyncpg_dsn, make_engine
from billgraph.db.migrate import upgrade
from billgraph.services import tenants


@contextlib.contextmanager
def admin_server(prefix: str) -> Iterator[str]:
    """The URL of a server's `postgres` database: DATABASE_URL's server, or an embedded
    PostgreSQL in a temporary directory (stopped and removed afterwards)."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield make_url(external).set(database="postgres").render_as_string(hide_password=False)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from billgraph.db.embedded import EmbeddedPostgres
    tmp = Path(tempfile.mkdtemp(prefix=f"billgraph-{prefix}-"))
    embedded = EmbeddedPostgres(tmp, fast=True)
    embedded.start()
    try:
        yield embedded.url("postgres")
    finally:
        embedded.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """The URL of a new, migrated database (dropped afterwards)."""
    with admin_server(prefix) as admin_url, _migrated(prefix, admin_url) as url:
        yield url


@contextlib.contextmanager
def fresh_databases(prefix: str,
                    other: Callable[[str], None] | None) -> Iterator[tuple[str, str | None]]:
    """A new migrated database and, when `other` is given, a second one on the same
    server that `other(url)` migrates (an earlier build's own migrations)."""
    with admin_server(prefix) as admin_url, _migrated(prefix, admin_url) as url:
        if other is None:
            yield url, None
            return
        with _migrated(f"{prefix}_baseline", admin_url, other) as second:
            yield url, second


@contextlib.contextmanager
def _migrated(prefix: str, admin_url: str,
              migrate: Callable[[str], None] = upgrade) -> Iterator[str]:
    name = f"billgraph_{prefix}_{os.getpid()}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(admin_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def new_tenant(url: str, name: str) -> tuple[uuid.UUID, str]:
    """A tenant with its first key, ADMIN (the key is shown only here)."""
    engine = make_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            tenant_id = await tenants.create_tenant(conn, name)
            return tenant_id, await tenants.create_key(conn, tenant_id, tenants.FIRST_KEY_SCOPE)
    finally:
        await engine.dispose()
