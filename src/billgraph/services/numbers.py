"""Document numbers and ids from the API: one format, one parser.

Generated numbers are a prefix and a sequence value of at least 8 digits (A00000001,
INV00000042); sequences never lock, so concurrent writers never wait on each other.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw


def document_number(prefix: str, value: int) -> str:
    return f"{prefix}{value:08d}"


async def next_numbers(conn: AsyncConnection, sequence: str, prefix: str, n: int) -> list[str]:
    """`n` generated numbers from `sequence`, in order: one statement."""
    rows = await raw.fetch(conn, f"SELECT nextval('{sequence}') FROM generate_series(1, :n)",
                           {"n": n})
    return [document_number(prefix, v) for v in sorted(r[0] for r in rows)]


async def next_number(conn: AsyncConnection, sequence: str, prefix: str) -> str:
    """A generated number from `sequence` (e.g. account_number_seq, "A")."""
    [number] = await next_numbers(conn, sequence, prefix, 1)
    return number


def parse_uuid(value: object) -> uuid.UUID | None:
    """An id given as text (or an ID); None when it is not a UUID."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
