"""Per-request DataLoaders: one query per kind per tick, `WHERE id = ANY(...)`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import RowMapping, text
from strawberry.dataloader import DataLoader

from billgraph.services import metrics
from billgraph.state import AppState

K = TypeVar("K")
V = TypeVar("V")


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


def by_id(state: AppState, tenant_id: uuid.UUID,
          table: str) -> DataLoader[uuid.UUID, RowMapping | None]:
    """Rows of `table` by id, within the tenant."""

    async def load(ids: Sequence[uuid.UUID]) -> list[RowMapping | None]:
        async with state.read() as conn:
            rows = await conn.execute(
                text(f"SELECT * FROM {table} "
                     "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))"),
                {"t": tenant_id, "ids": list(ids)},
            )
            found = {row["id"]: row for row in rows.mappings()}
        return [found.get(i) for i in ids]

    return SharedLoader(load_fn=load)


def grouped(state: AppState, tenant_id: uuid.UUID, table: str, key: str,
            order: str = "id") -> DataLoader[uuid.UUID, list[RowMapping]]:
    """Rows of `table` grouped by the foreign key `key`."""

    async def load(ids: Sequence[uuid.UUID]) -> list[list[RowMapping]]:
        async with state.read() as conn:
            rows = await conn.execute(
                text(f"SELECT * FROM {table} WHERE tenant_id = :t "
                     f"AND {key} = ANY(CAST(:ids AS uuid[])) ORDER BY {order}"),
                {"t": tenant_id, "ids": list(ids)},
            )
            groups: dict[uuid.UUID, list[RowMapping]] = {i: [] for i in ids}
            for row in rows.mappings():
                groups[row[key]].append(row)
        return [groups[i] for i in ids]

    return SharedLoader(load_fn=load)


class Loaders:
    """Built lazily per request: a loader exists only once a resolver asks for it."""

    def __init__(self, state: AppState, tenant_id: uuid.UUID) -> None:
        self.state = state
        self.tenant_id = tenant_id
        self._made: dict[str, DataLoader[Any, Any]] = {}

    def _get(self, name: str, make: Callable[[], DataLoader[Any, Any]]) -> DataLoader[Any, Any]:
        loader = self._made.get(name)
        if loader is None:
            loader = self._made[name] = make()
        return loader

    def custom(self, name: str, make: Callable[[], DataLoader[Any, Any]]) -> DataLoader[Any, Any]:
        """A loader made elsewhere (e.g. pages per key), built once per request under `name`."""
        return self._get(f"custom:{name}", make)

    def row(self, table: str) -> DataLoader[uuid.UUID, RowMapping | None]:
        return self._get(f"row:{table}", lambda: by_id(self.state, self.tenant_id, table))

    def children(self, table: str, key: str,
                 order: str = "id") -> DataLoader[uuid.UUID, list[RowMapping]]:
        return self._get(f"children:{table}:{key}",
                         lambda: grouped(self.state, self.tenant_id, table, key, order))

    @property
    def metrics(self) -> DataLoader[uuid.UUID, RowMapping | None]:
        async def load(ids: Sequence[uuid.UUID]) -> list[RowMapping | None]:
            async with self.state.read() as conn:
                found = await metrics.load(conn, self.tenant_id, ids)
            return [found.get(i) for i in ids]

        return self._get("metrics", lambda: SharedLoader(load_fn=load))


