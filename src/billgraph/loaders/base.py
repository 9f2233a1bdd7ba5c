"""The loader kinds: rows by id, rows grouped by a parent, pages per parent.

Each runs one statement per batch (`WHERE tenant_id = :t AND ... = ANY(...)`) on a short
connection of its own; the named loaders of `Loaders` are built from them.
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection
from strawberry.dataloader import DataLoader

from billgraph.services.errors import NotFound
from billgraph.services.pagination import Page, PageRequest

K = TypeVar("K")
V = TypeVar("V")
Read = Callable[[], AsyncConnection]
"""A short read connection (AppState.read)."""
PageKey = tuple[uuid.UUID, PageRequest]
"""A parent's id and the page of its children asked for."""
PagesOf = Callable[[AsyncConnection, uuid.UUID, Sequence[uuid.UUID], PageRequest],
                   Awaitable[dict[uuid.UUID, Page[RowMapping]]]]


class Missing(enum.Enum):
    MISSING = "missing"


MISSING: Final = Missing.MISSING
"""What `peek` answers for a key this request has not loaded (yet)."""


class SharedLoader(DataLoader[K, V]):
    """A DataLoader whose callers each await their own view of the shared result.

    graphql-core cancels the pending fields of an object once one of its fields fails.
    A field waiting on a plain DataLoader future cancels that future, which another
    field loading the same key (elsewhere in the document) still awaits: it got a
    CancelledError, which escaped the executor as an HTTP 500 (found by fuzzing).
    Shielded, a cancelled caller lets go of its view only.
    """

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))

    def peek(self, key: K) -> V | Missing:
        """The value this request has already loaded for `key`, without awaiting: MISSING
        while it is not loaded, or when its load failed (`load` then raises the error).
        A field answering from it stays synchronous, which graphql-core completes several
        times faster than an awaitable (no task, no gather)."""
        future = self.cache_map.get(key)
        if future is None or not future.done() or future.cancelled() \
                or future.exception() is not None:
            return MISSING
        return future.result()

    def fetch(self, keys: Iterable[K]) -> Awaitable[Any]:
        """Load `keys` into this request's cache in one batch, for `peek` to answer: a
        parent that knows what its children will read loads it before they ask. A failed
        load stays in the cache for the field that needs it to raise; one shield for the
        whole batch keeps a cancelled caller from cancelling what others await."""
        futures = [DataLoader.load(self, key) for key in dict.fromkeys(keys)]
        return asyncio.shield(asyncio.gather(*futures, return_exceptions=True))


class RowLoader(SharedLoader[uuid.UUID, RowMapping | None]):
    """Rows of one table by id, within the tenant; `one()` when the row must exist."""

    def __init__(self, read: Read, tenant_id: uuid.UUID, table: str, what: str) -> None:
        self.what = what

        async def load(ids: Sequence[uuid.UUID]) -> list[RowMapping | None]:
            async with read() as conn:
                rows = await conn.execute(
                    text(f"SELECT * FROM {table} "
                         "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))"),
                    {"t": tenant_id, "ids": list(ids)})
                found = {row["id"]: row for row in rows.mappings()}
            return [found.get(i) for i in ids]

        super().__init__(load_fn=load)

    async def one(self, row_id: uuid.UUID) -> RowMapping:
        """The row; NOT_FOUND (naming what it is) when the tenant has none with this id."""
        row = await self.load(row_id)
        if row is None:
            raise NotFound(self.what, row_id)
        return row

    def peek_one(self, row_id: uuid.UUID) -> RowMapping | Missing:
        """`peek` for a row that must exist: NOT_FOUND, as `one()`, when it was loaded and
        the tenant has none."""
        row = self.peek(row_id)
        if row is None:
            raise NotFound(self.what, row_id)
        return row


class ChildrenLoader(SharedLoader[uuid.UUID, list[RowMapping]]):
    """All rows of a table whose foreign key `parent` is the key, in `order`."""

    def __init__(self, read: Read, tenant_id: uuid.UUID, table: str, parent: str,
                 order: str) -> None:
        async def load(ids: Sequence[uuid.UUID]) -> list[list[RowMapping]]:
            async with read() as conn:
                rows = await conn.execute(
                    text(f"SELECT * FROM {table} WHERE tenant_id = :t "
                         f"AND {parent} = ANY(CAST(:ids AS uuid[])) ORDER BY {order}"),
                    {"t": tenant_id, "ids": list(ids)})
                groups: dict[uuid.UUID, list[RowMapping]] = {i: [] for i in ids}
                for row in rows.mappings():
                    groups[row[parent]].append(row)
            return [groups[i] for i in ids]

        super().__init__(load_fn=load)


class PageLoader(SharedLoader[PageKey, Page[RowMapping]]):
    """A page of children per (parent, page request): one batch per distinct request."""

    def __init__(self, read: Read, tenant_id: uuid.UUID, pages_of: PagesOf) -> None:
        async def load(keys: Sequence[PageKey]) -> list[Page[RowMapping]]:
            found: dict[PageKey, Page[RowMapping]] = {}
            async with read() as conn:
                for page in dict.fromkeys(p for _, p in keys):
                    parents = [i for i, p in keys if p == page]
                    for parent, result in (await pages_of(conn, tenant_id, parents,
                                                          page)).items():
                        found[parent, page] = result
            return [found[k] for k in keys]

        super().__init__(load_fn=load)
