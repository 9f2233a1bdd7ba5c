"""Set-based writes: one statement per table, whatever the number of rows.

Rows travel as one array per column and are spread by `unnest`, so the SQL text
is the same for 1 or 300 rows (one prepared statement, one round trip).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import CursorResult, text
from sqlalchemy.ext.asyncio import AsyncConnection

Columns = Sequence[tuple[str, str]]  # (column, PostgreSQL type)


def unnest(columns: Columns, rows: Sequence[Sequence[Any]], *,
           prefix: str = "c") -> tuple[str, dict[str, list[Any]]]:
    """`unnest(...) AS v(columns)` over `rows` and its parameters (named `prefix`0, 1, ...),
    to use as a FROM item (e.g. in a part of a WITH statement)."""
    casts = ", ".join(f"CAST(:{prefix}{n} AS {kind}[])" for n, (_, kind) in enumerate(columns))
    names = ", ".join(name for name, _ in columns)
    return (f"unnest({casts}) AS v({names})",
            {f"{prefix}{n}": [row[n] for row in rows] for n in range(len(columns))})


def _arrays(columns: Columns, rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    return {f"c{n}": [row[n] for row in rows] for n in range(len(columns))}


def _unnest(columns: Columns) -> str:
    casts = ", ".join(f"CAST(:c{n} AS {kind}[])" for n, (_, kind) in enumerate(columns))
    names = ", ".join(name for name, _ in columns)
    return f"unnest({casts}) AS v({names})"


async def insert(conn: AsyncConnection, table: str, tenant_id: uuid.UUID, columns: Columns,
                 rows: Sequence[Sequence[Any]], *, suffix: str = "") -> CursorResult[Any] | None:
    """INSERT `rows` (tuples in `columns` order) into `table` of the tenant, in one statement.

    `suffix` is appended (e.g. "ON CONFLICT (...) DO NOTHING RETURNING id").
    """
    if not rows:
        return None
    names = ", ".join(name for name, _ in columns)
    return await conn.execute(
        text(f"INSERT INTO {table} (tenant_id, {names}) "
             f"SELECT CAST(:tenant_id AS uuid), {names} FROM {_unnest(columns)} {suffix}"),
        {"tenant_id": tenant_id, **_arrays(columns, rows)},
    )
