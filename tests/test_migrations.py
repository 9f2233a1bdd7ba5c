"""The migrations and models/ describe the same schema; SQL and Python agree on money."""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from billgraph.db.engine import make_engine
from billgraph.models import metadata
from billgraph.services import money


def _shards(connection: Connection) -> set[str]:
    """On a Citus coordinator: its placements of the reference tables (tenants_102010, ...),
    which are copies of tables, not tables of the schema. None on plain PostgreSQL."""
    if not connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first():
        return set()
    return set(connection.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND relation_is_a_known_shard(c.oid)")).scalars())


def differences(connection: Connection) -> list[Any]:
    shards = _shards(connection)

    def schema_object(obj: Any, name: str | None, kind: str, reflected: bool,
                      compare_to: Any) -> bool:
        table = obj if kind == "table" else getattr(obj, "table", None)
        return getattr(table, "name", None) not in shards

    context = MigrationContext.configure(connection, opts={
        "compare_type": True, "compare_server_default": False,
        "include_object": schema_object})
    return list(compare_metadata(context, metadata))


async def test_the_migrated_database_is_exactly_what_the_models_describe(
        database_url: str) -> None:
    """Tables, columns, types, nullability, indexes, keys: `alembic check` would find no
    migration to write."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(differences)
    finally:
        await engine.dispose()
    assert diff == [], "\n".join(map(str, diff))


async def test_sql_currency_minor_units_agrees_with_money_minor_units(database_url: str) -> None:
    """`currency_minor_units(code)` (rounding in SQL) and `money.MINOR_UNITS` (in Python):
    the same digits for every code we bill in, and 2 (the SQL default) for others."""
    codes = sorted(money.MINOR_UNITS)
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT code, currency_minor_units(code) AS digits "
                "FROM unnest(CAST(:codes AS text[])) AS c(code)"), {"codes": codes})
            in_sql = {row.code: row.digits for row in rows}
            other = (await conn.execute(text("SELECT currency_minor_units('XXX')"))).scalar_one()
            source = (await conn.execute(text(
                "SELECT prosrc FROM pg_proc WHERE proname = 'currency_minor_units'"))).scalar_one()
    finally:
        await engine.dispose()
    assert in_sql == money.MINOR_UNITS
    # and every code the SQL function names is one Python knows (none only in SQL)
    named = set(re.findall(r"'([A-Z]{3})'", source))
    assert named and named <= set(money.MINOR_UNITS), named - set(money.MINOR_UNITS)
    assert "XXX" not in money.MINOR_UNITS and other == 2
