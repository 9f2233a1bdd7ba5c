"""accountSummary(id | accountNumber)."""

from __future__ import annotations

import uuid

import strawberry

from billgraph.context import Info
from billgraph.resolvers.accounts import find_account
from billgraph.schema.summary import AccountSummary


@strawberry.type
class SummaryQueries:
    @strawberry.field(description=(
        "An account with its metrics, the subscriptions it owns, its invoices and payments, "
        "by id or account number."))
    async def account_summary(self, info: Info, id: strawberry.ID | None = None,
                              account_number: str | None = None) -> AccountSummary | None:
        account = await find_account(info, id, account_number)
        return AccountSummary(account=account, account_id=uuid.UUID(account.id))
