"""Relay cursors over a keyset (the row's time-ordered id), and the keyset page queries."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import BadUserInput

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: uuid.UUID | None


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    total_count: int


def encode_cursor(row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(b"c1:" + row_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(b"c1:") or len(raw) != 19:
            raise ValueError
        return uuid.UUID(bytes=raw[3:])
    except ValueError:
        raise BadUserInput("after", "not a cursor from this API") from None


def page_request(first: int | None, after: str | None, *, default: int,
                 maximum: int) -> PageRequest:
    if first is None:
        first = default
    if first < 0 or first > maximum:
        raise BadUserInput("first", f"must be between 0 and {maximum}")
    return PageRequest(first, decode_cursor(after) if after else None)


def page_of(rows: Sequence[RowMapping], page: PageRequest, total: int) -> Page[RowMapping]:
    """A page from up to `first + 1` rows in id order (the extra row says more follow)."""
    items = list(rows[: page.first])
    return Page(items, [encode_cursor(r["id"]) for r in items], len(rows) > page.first, total)


async def keyset_page(conn: AsyncConnection, table: str, where: str, params: dict[str, Any],
                      page: PageRequest, *, newest_first: bool = False) -> Page[RowMapping]:
    """A keyset page of `table` rows matching `where` (which filters on tenant_id), oldest
    first (ids are time-ordered) or newest first, with the total count of matching rows."""
    total = (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"),
                                params)).scalar_one()
    if page.after is not None:
        where += " AND id < :after" if newest_first else " AND id > :after"
    order = "id DESC" if newest_first else "id"
    rows = list((await conn.execute(
        text(f"SELECT * FROM {table} WHERE {where} ORDER BY {order} LIMIT :limit"),
        {**params, "after": page.after, "limit": page.first + 1})).mappings())
    return page_of(rows, page, total)


async def keyset_pages(conn: AsyncConnection, tenant_id: uuid.UUID, table: str, parent: str,
                       parent_ids: Sequence[uuid.UUID],
                       page: PageRequest) -> dict[uuid.UUID, Page[RowMapping]]:
    """The same keyset page of `table` rows for each parent id (the foreign key `parent`),
    in two statements for all parents: the counts, and a LATERAL page per parent."""
    params = {"t": tenant_id, "ids": list(parent_ids), "after": page.after,
              "limit": page.first + 1}
    totals = {key: count for key, count in await conn.execute(text(
        f"SELECT {parent}, count(*) FROM {table} WHERE tenant_id = :t "
        f"AND {parent} = ANY(CAST(:ids AS uuid[])) GROUP BY {parent}"), params)}
    rows: dict[uuid.UUID, list[RowMapping]] = {i: [] for i in parent_ids}
    for row in (await conn.execute(text(
            f"SELECT x.* FROM unnest(CAST(:ids AS uuid[])) AS p(id) CROSS JOIN LATERAL ("
            f"SELECT * FROM {table} WHERE tenant_id = :t AND {parent} = p.id "
            "AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) "
            "ORDER BY id LIMIT :limit) x"), params)).mappings():
        rows[row[parent]].append(row)
    return {i: page_of(rows[i], page, totals.get(i, 0)) for i in parent_ids}
