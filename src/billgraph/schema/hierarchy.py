"""Account hierarchies (SPEC §15): the roll-up type and the Account fields of a tree.

Field resolvers only call loaders (ancestors, child_account_pages, hierarchy_metrics).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info

from .common import PageInfo, requested_page

if TYPE_CHECKING:
    from .accounts import Account, AccountConnection

AccountRef = Annotated["Account", strawberry.lazy("billgraph.schema.accounts")]
ConnectionRef = Annotated["AccountConnection", strawberry.lazy("billgraph.schema.accounts")]


@strawberry.type(description=(
    "The §2 metrics of an account and all its descendants in one currency. A deferred "
    "read model: recomputed by the background refresher at most once per tenant interval "
    "after a member changed, or at once by refreshHierarchyMetrics."))
class HierarchyMetrics:
    currency: str = strawberry.field(description="ISO 4217 code of the members summed here.")
    account_count: int = strawberry.field(
        description="The account and its descendants in this currency.")
    balance: Decimal = strawberry.field(description="Sum of the members' balance.")
    credit_balance: Decimal = strawberry.field(description="Sum of the members' creditBalance.")
    total_invoice_balance: Decimal = strawberry.field(
        description="Sum of the members' totalInvoiceBalance.")
    contracted_mrr: Decimal = strawberry.field(
        description="Sum of the members' contractedMrr.")
    last_metrics_update: dt.datetime | None = strawberry.field(description=(
        "When this roll-up was last computed: it includes every member recompute before it."))
    stale: bool = strawberry.field(description=(
        "True when a member's metrics changed since (or are waiting for their own refresh), "
        "or the tree under this account changed."))

    @classmethod
    def from_row(cls, row: RowMapping) -> HierarchyMetrics:
        return cls(currency=row["currency"], account_count=row["account_count"],
                   balance=row["balance"], credit_balance=row["credit_balance"],
                   total_invoice_balance=row["total_invoice_balance"],
                   contracted_mrr=row["contracted_mrr"],
                   last_metrics_update=row["last_metrics_update"], stale=bool(row["stale"]))


def _id(root: Any) -> uuid.UUID:
    return uuid.UUID(str(root.id))


async def parent_account(root: Any, info: Info) -> AccountRef | None:
    """Account.parentAccount (batched by id)."""
    from .accounts import Account

    if root.parent_account_id is None:
        return None
    row = await info.context.loaders.account.load(root.parent_account_id)
    return Account.from_row(row) if row is not None else None


async def children(root: Any, info: Info, first: int | None = None,
                   after: str | None = None) -> ConnectionRef:
    """Account.children: its direct children, oldest first (batched)."""
    from .accounts import Account, AccountConnection, AccountEdge

    page = requested_page(info, first, after)
    result = await info.context.loaders.child_account_pages.load((_id(root), page))
    return AccountConnection(
        edges=[AccountEdge(cursor=c, node=Account.from_row(r))
               for r, c in zip(result.items, result.cursors, strict=True)],
        page_info=PageInfo.of(result), total_count=result.total_count)


async def ancestors(root: Any, info: Info) -> list[AccountRef]:
    """Account.ancestors, nearest first (batched)."""
    from .accounts import Account

    rows = await info.context.loaders.ancestors.load(_id(root))
    return [Account.from_row(row) for row in rows]


async def depth(root: Any, info: Info) -> int:
    """Account.depth: 0 without a parent (the ancestors loader counts them)."""
    if root.parent_account_id is None:
        return 0
    return len(await info.context.loaders.ancestors.load(_id(root)))


async def hierarchy_metrics(root: Any, info: Info) -> list[HierarchyMetrics]:
    """Account.hierarchyMetrics: one row per currency under it, itself included."""
    rows = await info.context.loaders.hierarchy_metrics.load(_id(root))
    return [HierarchyMetrics.from_row(row) for row in rows]
