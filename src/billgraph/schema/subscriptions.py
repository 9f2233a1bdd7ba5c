"""Subscription types: subscriptions, their items, billing terms, pages."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info
from billgraph.loaders import MISSING, Missing
from billgraph.services import money, subscriptions
from billgraph.services.pagination import Page

from .adjustments import SubscriptionDiscount, subscription_discounts
from .catalog import (
    BillingTermScheme,
    PricePlan,
    Product,
    load_price_plan,
    price_plan_of,
    product_of,
    scheme_of,
)
from .common import (
    Node,
    PageInfo,
    Selection,
    Soon,
    now_or_later,
    one_now_or_later,
    requested_page,
    selection,
)
from .enums import (
    BillingFrequency,
    BindingPeriod,
    ChargeType,
    ConcurrentUsageBillingMethod,
    SubscriptionStatus,
)
from .pricing import UsageSummary, subscription_usage
from .users import User

if TYPE_CHECKING:
    from .accounts import Account

T = TypeVar("T")

@strawberry.type(description=(
    "A product on a subscription from startDate until endDate. endDate is EXCLUSIVE: the "
    "first day the item is no longer in service (null: open-ended)."))
class SubscriptionItem:
    id: strawberry.ID
    charge_type: ChargeType = strawberry.field(
        description="RECURRING, ONE_TIME or USAGE, from the plan's charge.")
    quantity: int = strawberry.field(description="How many units.")
    price: Decimal = strawberry.field(description="Per pricePeriod: the plan's unless overridden.")
    price_period: BillingFrequency = strawberry.field(description="The period the price is for.")
    start_date: dt.date = strawberry.field(description="The first day in service.")
    end_date: dt.date | None = strawberry.field(description=(
        "Exclusive: the first day no longer in service (the last day in service is the day "
        "before). Null while the item is open-ended."))
    mrr: Decimal = strawberry.field(description=(
        "The item's monthly recurring revenue, whatever its dates: its price normalized to a "
        "month × quantity (under concurrent-usage pricing × billed quantity × rate %), rounded "
        "to the currency; 0 unless RECURRING."))
    replaces_item_id: strawberry.ID | None = strawberry.field(
        description="The item this one succeeded (UPDATE_PRODUCT).")
    product_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping, currency: str) -> SubscriptionItem:
        replaces = row["replaces_item_id"]
        return cls(
            id=strawberry.ID(str(row["id"])), charge_type=ChargeType(row["charge_type"]),
            quantity=row["quantity"], price=row["price"],
            price_period=BillingFrequency(row["price_period"]), start_date=row["start_date"],
            end_date=row["end_date"], mrr=money.round_money(row["mrr"], currency),
            replaces_item_id=strawberry.ID(str(replaces)) if replaces else None,
            product_id=row["product_id"],
        )

    @strawberry.field(description="The product subscribed.", graphql_type=Product)
    def product(self, info: Info) -> Soon[Product]:
        return product_of(info, self.product_id)


@strawberry.type(description="The binding (commitment) period of a subscription.")
class BindingInformation:
    binding_period: BindingPeriod = strawberry.field(description="The length of the binding.")
    start_date: dt.date = strawberry.field(description="Default: the agreement date.")
    end_date: dt.date = strawberry.field(description=(
        "The binding's last day, INCLUSIVE: start + period − 1 day. Cancelling on or before "
        "it is BINDING_PERIOD_ACTIVE unless overrideBinding is set."))


@strawberry.type(description="Concurrent-usage based pricing of a subscription.")
class ConcurrentUsageBasedPricing:
    concurrent_usage: int = strawberry.field(description="The agreed concurrent usage (capacity).")
    rate_percentage: Decimal = strawberry.field(
        description="Percentage (0-100] of the price charged.")
    number_of_installed_items: int | None = strawberry.field(
        description="Installed items (BASED_ON_NUMBER_OF_INSTALLED_ITEMS).")
    concurrent_usage_billing_method: ConcurrentUsageBillingMethod = strawberry.field(
        description="How the billed quantity is counted.")


@strawberry.type(description="A subscription's billing terms (seed: subscription_billing_terms).")
class BillingTerms:
    billing_cycle_day: int = strawberry.field(
        description="1–31; days 29–31 mean the last day in shorter months.")
    agreement_date: dt.date = strawberry.field(description="When the terms were agreed and signed.")
    billing_frequency: BillingFrequency | None = strawberry.field(
        description="Set for NORMAL schemes only.")
    performed_on: dt.date | None = strawberry.field(
        description="When the terms were recorded (audit).")
    binding_information: BindingInformation | None = strawberry.field(
        description="The binding (commitment) period, if any.")
    concurrent_usage_based_pricing: ConcurrentUsageBasedPricing | None = strawberry.field(
        description="Concurrent-usage pricing, under a concurrent-usage based scheme.")
    price_plan_id: strawberry.Private[uuid.UUID]
    scheme_id: strawberry.Private[uuid.UUID]
    performed_by_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: RowMapping) -> BillingTerms:
        binding = None
        if row["binding_period"] is not None:
            binding = BindingInformation(binding_period=BindingPeriod(row["binding_period"]),
                                         start_date=row["binding_start_date"],
                                         end_date=row["binding_end_date"])
        cu = None
        if row["cu_billing_method"] is not None:
            cu = ConcurrentUsageBasedPricing(
                concurrent_usage=row["cu_concurrent_usage"],
                rate_percentage=row["cu_rate_percentage"],
                number_of_installed_items=row["cu_installed_items"],
                concurrent_usage_billing_method=ConcurrentUsageBillingMethod(
                    row["cu_billing_method"]))
        frequency = row["billing_frequency"]
        return cls(
            billing_cycle_day=row["billing_cycle_day"], agreement_date=row["agreement_date"],
            billing_frequency=BillingFrequency(frequency) if frequency else None,
            performed_on=row["performed_on"], binding_information=binding,
            concurrent_usage_based_pricing=cu, price_plan_id=row["price_plan_id"],
            scheme_id=row["scheme_id"], performed_by_id=row["performed_by_user_id"],
        )

    @strawberry.field(description="The price plan the subscription is billed on.",
                      graphql_type=PricePlan)
    def price_plan(self, info: Info) -> Soon[PricePlan]:
        return price_plan_of(info, self.price_plan_id)

    @strawberry.field(description="The billing term scheme (NORMAL or ONE_TIME, cycle day).",
                      graphql_type=BillingTermScheme)
    def scheme(self, info: Info) -> Soon[BillingTermScheme]:
        return scheme_of(info, self.scheme_id)

    @strawberry.field(description="The user who performed the subscription's creation.")
    async def performed_by(self, info: Info) -> User | None:
        if self.performed_by_id is None:
            return None
        row = await info.context.loaders.user.load(self.performed_by_id)
        return User.from_row(row) if row else None


@strawberry.type(description=(
    "A subscription: its owner, its invoice owner (who pays; in the reseller model, the "
    "reseller), billing terms and items. Owners and status are as they will be once every "
    "scheduled change has happened."))
class Subscription(Node):
    id: strawberry.ID
    subscription_number: str = strawberry.field(
        description="Unique per tenant (S00000001 when generated).")
    status: SubscriptionStatus = strawberry.field(description="ACTIVE, SUSPENDED or CANCELLED.")
    start_date: dt.date = strawberry.field(description="When the subscription starts.")
    cancelled_on: dt.date | None = strawberry.field(
        description="The effective date of the cancellation (items end on it).")
    row: strawberry.Private[RowMapping]

    @classmethod
    def from_row(cls, row: RowMapping) -> Subscription:
        return cls(id=strawberry.ID(str(row["id"])),
                   subscription_number=row["subscription_number"],
                   status=SubscriptionStatus(row["status"]), start_date=row["start_date"],
                   cancelled_on=row["cancelled_on"], row=row)

    @strawberry.field(description=(
        "The subscription owner: its contractedMrr counts this subscription."),
        graphql_type=Annotated["Account", strawberry.lazy(".accounts")])
    def owner_account(self, info: Info) -> Soon[Account]:
        return _account(info, self.row["owner_account_id"])

    @strawberry.field(description=(
        "The invoice owner: billed for this subscription (in the reseller model, the reseller)."),
        graphql_type=Annotated["Account", strawberry.lazy(".accounts")])
    def invoice_owner_account(self, info: Info) -> Soon[Account]:
        return _account(info, self.row["invoice_owner_account_id"])

    @strawberry.field(description="The discounts attached, by start date.")
    async def discounts(self, info: Info) -> list[SubscriptionDiscount]:
        return await subscription_discounts(info, self.row["id"])

    @strawberry.field(description="How the subscription is billed (CRM.COM billing terms).")
    def billing_terms(self) -> BillingTerms:
        return BillingTerms.from_row(self.row)

    async def _currency(self, info: Info) -> str:
        return (await load_price_plan(info, self.row["price_plan_id"])).currency

    @strawberry.field(description="The currency of its price plan.", graphql_type=str)
    def currency(self, info: Info) -> Soon[str]:
        return one_now_or_later(info.context.loaders.price_plan, self.row["price_plan_id"],
                                lambda plan: str(plan["currency"]))

    async def _items(self, info: Info) -> list[RowMapping]:
        rows: list[RowMapping] = await info.context.loaders.subscription_items.load(
            self.row["id"])
        return rows

    def _peek_items_and_currency(self, info: Info) -> tuple[list[RowMapping], str] | Missing:
        loaders = info.context.loaders
        rows = loaders.subscription_items.peek(self.row["id"])
        plan = loaders.price_plan.peek_one(self.row["price_plan_id"])
        return MISSING if rows is MISSING or plan is MISSING else (rows, plan["currency"])

    async def _load_items_and_currency(self, info: Info) -> tuple[list[RowMapping], str]:
        return await self._items(info), await self._currency(info)

    def _with_items(self, info: Info, build: Callable[[list[RowMapping], str], T]) -> Soon[T]:
        """`build` of its item rows and currency (at once when both are loaded)."""
        return now_or_later(self._peek_items_and_currency(info),
                            lambda: self._load_items_and_currency(info),
                            lambda known: build(*known))

    @strawberry.field(description="All its items, ended ones included, by start date.",
                      graphql_type=list[SubscriptionItem])
    def items(self, info: Info) -> Soon[list[SubscriptionItem]]:
        return self._with_items(info, lambda rows, currency: [
            SubscriptionItem.from_row(r, currency) for r in rows])

    @strawberry.field(description=(
        "The sum of the MRR of its open-ended recurring items, rounded once at the end; "
        "0 once cancelled (or with a cancellation scheduled)."), graphql_type=Decimal)
    def mrr(self, info: Info) -> Soon[Decimal]:
        return self._with_items(info, partial(subscriptions.subscription_mrr, self.row))

    @strawberry.field(description=(
        "One summary per USAGE item and service period overlapping [from, to] "
        "(default: the current period)."))
    async def usage(self, info: Info, from_: Annotated[dt.date | None, strawberry.argument(
            name="from", description="First day of the range (UTC dates).")] = None,
                    to: Annotated[dt.date | None, strawberry.argument(
                        description="Last day of the range, inclusive.")] = None,
                    ) -> list[UsageSummary]:
        return await subscription_usage(info, self.row["id"], from_, to)


@strawberry.type
class SubscriptionEdge:
    cursor: str
    node: Subscription


@strawberry.type(description="A page of subscriptions.")
class SubscriptionConnection:
    edges: list[SubscriptionEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def from_page(cls, page: Page[RowMapping]) -> SubscriptionConnection:
        return cls(
            edges=[SubscriptionEdge(cursor=c, node=Subscription.from_row(r))
                   for r, c in zip(page.items, page.cursors, strict=True)],
            total_count=page.total_count,
            page_info=PageInfo.of(page),
        )


@strawberry.input(description="Narrows a subscriptions query; omitted fields do not filter.")
class SubscriptionFilter:
    owner_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only subscriptions this account owns.")
    invoice_owner_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only subscriptions billed to this account.")
    status: SubscriptionStatus | None = strawberry.field(
        default=None, description="Only subscriptions with this status.")


def _account(info: Info, account_id: uuid.UUID) -> Soon[Account]:
    from .accounts import Account

    return one_now_or_later(info.context.loaders.account, account_id, Account.from_row)


async def fetch_for(info: Info, rows: Sequence[RowMapping], wanted: Selection) -> None:
    """Load, one batch per kind, what the `wanted` fields of these subscriptions read, so
    each of them answers at once (`peek`) instead of with an awaitable: a page of 100
    subscriptions × 3 items asked ~1,300 awaitables of graphql-core, each a task of its
    own. The statements are the ones the fields would have sent, in the same batches;
    a failed batch stays in the loader for the field that reads it to report."""
    if not rows:
        return
    loaders = info.context.loaders
    terms = wanted.get("billingTerms", {})
    plan = terms.get("pricePlan")
    charges = None if plan is None else plan.get("charges")
    items = wanted.get("items")
    first: list[Awaitable[Any]] = []
    accounts = [r["owner_account_id"] for r in rows] if "ownerAccount" in wanted else []
    if "invoiceOwnerAccount" in wanted:
        accounts += [r["invoice_owner_account_id"] for r in rows]
    if accounts:
        first.append(loaders.account.fetch(accounts))
    plans = [r["price_plan_id"] for r in rows]
    if plan is not None or items is not None or wanted.keys() & {"mrr", "currency"}:
        first.append(loaders.price_plan.fetch(plans))
    if items is not None or "mrr" in wanted:
        first.append(loaders.subscription_items.fetch(r["id"] for r in rows))
    if "scheme" in terms:
        first.append(loaders.billing_term_scheme.fetch(r["scheme_id"] for r in rows))
    if charges is not None:
        first.append(loaders.plan_charges.fetch(plans))
    await asyncio.gather(*first)
    products: list[uuid.UUID] = []
    if items is not None and "product" in items:
        for row in rows:
            found = loaders.subscription_items.peek(row["id"])
            products += [] if found is MISSING else [i["product_id"] for i in found]
    if charges is not None and "product" in charges:
        for plan_id in dict.fromkeys(plans):
            found = loaders.plan_charges.peek(plan_id)
            products += [] if found is MISSING else [c["product_id"] for c in found]
    if products:
        await loaders.product.fetch(products)


async def account_subscriptions(root: Any, info: Info, first: int | None = None,
                                after: str | None = None) -> SubscriptionConnection:
    """Account.subscriptions: the subscriptions an account owns, oldest first (batched)."""
    page = requested_page(info, first, after)
    result = await info.context.loaders.subscription_pages.load((uuid.UUID(str(root.id)), page))
    await fetch_for(info, result.items, selection(info, "edges", "node"))
    return SubscriptionConnection.from_page(result)
