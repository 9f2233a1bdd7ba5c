"""Subscription queries: by number, pages, billing terms."""

from __future__ import annotations

import strawberry

from billgraph.context import Info
from billgraph.schema.common import parse_id, requested_page, selection
from billgraph.schema.subscriptions import (
    BillingTerms,
    Subscription,
    SubscriptionConnection,
    SubscriptionFilter,
    fetch_for,
)
from billgraph.services import accounts, subscriptions
from billgraph.services.errors import NotFound


async def find_subscription(info: Info, number: str) -> Subscription:
    async with info.context.state.read() as conn:
        row = await subscriptions.find_by_number(conn, info.context.tenant_id, number)
    if row is None:
        raise NotFound("subscription", repr(number), field="subscriptionNumber")
    return Subscription.from_row(row)


@strawberry.type
class SubscriptionQueries:
    @strawberry.field(description="One subscription, by subscription number.")
    async def subscription(self, info: Info, subscription_number: str) -> Subscription | None:
        return await find_subscription(info, subscription_number)

    @strawberry.field(description="A page of the tenant's subscriptions, oldest first.")
    async def subscriptions(self, info: Info, first: int | None = None, after: str | None = None,
                            filter: SubscriptionFilter | None = None) -> SubscriptionConnection:
        page = requested_page(info, first, after)
        filters = subscriptions.SubscriptionFilter()
        if filter is not None:
            if filter.owner_account_id is not None:
                filters.owner_account_id = parse_id(filter.owner_account_id, "account",
                                                    "filter.ownerAccountId")
            if filter.invoice_owner_account_id is not None:
                filters.invoice_owner_account_id = parse_id(
                    filter.invoice_owner_account_id, "account", "filter.invoiceOwnerAccountId")
            filters.status = filter.status.value if filter.status else None
        async with info.context.state.read() as conn:
            # an account of another tenant (or none) is NOT_FOUND, as everywhere else
            for account_id, field in ((filters.owner_account_id, "filter.ownerAccountId"),
                                      (filters.invoice_owner_account_id,
                                       "filter.invoiceOwnerAccountId")):
                if account_id is not None:
                    await accounts.get_account(conn, info.context.tenant_id, account_id,
                                               field=field)
            result = await subscriptions.list_subscriptions(conn, info.context.tenant_id, page,
                                                            filters)
        await fetch_for(info, result.items, selection(info, "edges", "node"))
        return SubscriptionConnection.from_page(result)

    @strawberry.field(description="The billing terms of a subscription, by subscription number.")
    async def billing_terms(self, info: Info, subscription_number: str) -> BillingTerms | None:
        return BillingTerms.from_row((await find_subscription(info, subscription_number)).row)
