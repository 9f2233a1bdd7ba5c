"""Per-request loaders of account hierarchies: ancestors, children pages, roll-ups.

Each batches every key asked for in one tick into one statement (children: two),
so a page of accounts with their parents, children and roll-ups stays at a flat
statement count whatever the page size.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import RowMapping
from strawberry.dataloader import DataLoader

from billgraph.services import hierarchy, rollups
from billgraph.services.pagination import Page, PageRequest

from . import Loaders, SharedLoader


def ancestors(loaders: Loaders) -> DataLoader[uuid.UUID, list[RowMapping]]:
    """An account's ancestors' rows, nearest first."""

    async def load(ids: Sequence[uuid.UUID]) -> list[list[RowMapping]]:
        async with loaders.state.read() as conn:
            found = await hierarchy.ancestors(conn, loaders.tenant_id, ids)
        return [found.get(i, []) for i in ids]

    return loaders.custom("hierarchy:ancestors", lambda: SharedLoader(load_fn=load))


def children(loaders: Loaders
             ) -> DataLoader[tuple[uuid.UUID, PageRequest], Page[RowMapping]]:
    """Pages of an account's children: one batch per distinct page request."""

    async def load(keys: Sequence[tuple[uuid.UUID, PageRequest]]) -> list[Page[RowMapping]]:
        found: dict[tuple[uuid.UUID, PageRequest], Page[RowMapping]] = {}
        async with loaders.state.read() as conn:
            for page in dict.fromkeys(p for _, p in keys):
                parents = [a for a, p in keys if p == page]
                for parent, result in (await hierarchy.children_pages(
                        conn, loaders.tenant_id, parents, page)).items():
                    found[parent, page] = result
        return [found[k] for k in keys]

    return loaders.custom("hierarchy:children", lambda: SharedLoader(load_fn=load))


def rollups_of(loaders: Loaders) -> DataLoader[uuid.UUID, list[RowMapping]]:
    """An account's roll-up rows (one per currency) with their `stale` flag."""

    async def load(ids: Sequence[uuid.UUID]) -> list[list[RowMapping]]:
        async with loaders.state.read() as conn:
            found = await rollups.load(conn, loaders.tenant_id, ids)
        return [found.get(i, []) for i in ids]

    return loaders.custom("hierarchy:rollups", lambda: SharedLoader(load_fn=load))
