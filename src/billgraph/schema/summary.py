"""AccountSummary: an account with its metrics and documents, in one query."""

from __future__ import annotations

import uuid

import strawberry

from billgraph.context import Info

from .accounts import Account, AccountMetrics, load_metrics
from .billing import Invoice
from .payments import Payment
from .subscriptions import Subscription


@strawberry.type(description=(
    "An account at a glance: its metrics, the subscriptions it owns, its invoices (every "
    "status) and its payments."))
class AccountSummary:
    account: Account = strawberry.field(description="The account.")
    account_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The account's metrics.")
    async def metrics(self, info: Info) -> AccountMetrics:
        return await load_metrics(info, self.account_id)

    @strawberry.field(description="The subscriptions it owns, oldest first.")
    async def subscriptions(self, info: Info) -> list[Subscription]:
        rows = await info.context.loaders.owned_subscriptions.load(self.account_id)
        return [Subscription.from_row(r) for r in rows]

    @strawberry.field(description="Its invoices, by invoice date.")
    async def invoices(self, info: Info) -> list[Invoice]:
        rows = await info.context.loaders.account_invoices.load(self.account_id)
        return [Invoice.from_row(r) for r in rows]

    @strawberry.field(description="Its payments, by effective date.")
    async def payments(self, info: Info) -> list[Payment]:
        rows = await info.context.loaders.account_payments.load(self.account_id)
        return [Payment.from_row(r) for r in rows]
