"""Order types and inputs (SPEC §5), with the billing terms inputs of CREATE_SUBSCRIPTION."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info
from billgraph.services.errors import NotFound

from .enums import BillingFrequency, BindingPeriod, ConcurrentUsageBillingMethod, OrderActionType
from .subscriptions import Subscription, load_account

if TYPE_CHECKING:
    from .accounts import Account


@strawberry.input(
    description="A price plan by id or code: at least one; both must name the same plan.")
class PricePlanIdentifierInput:
    id: strawberry.ID | None = None
    code: str | None = None


@strawberry.input(
    description="A tenant user by id or username: at least one; both must name the same user.")
class UserIdentifierInput:
    id: strawberry.ID | None = None
    username: str | None = None


@strawberry.input
class BindingInformationInput:
    binding_period: BindingPeriod = strawberry.field(
        description="CUSTOMn must be defined by the tenant.")
    start_date: dt.date | None = strawberry.field(
        default=None, description="Default: the agreement date.")


@strawberry.input(
    description="Mandatory when the scheme is concurrent-usage based, rejected otherwise.")
class ConcurrentUsageBasedPricingInput:
    concurrent_usage: int = strawberry.field(description="At least 1.")
    rate_percentage: Decimal = strawberry.field(description="Greater than 0, at most 100.")
    number_of_installed_items: int | None = strawberry.field(
        default=None,
        description="Mandatory for (and only for) BASED_ON_NUMBER_OF_INSTALLED_ITEMS.")
    concurrent_usage_billing_method: ConcurrentUsageBillingMethod | None = strawberry.field(
        default=None, description="Default BASED_ON_NUMBER_OF_INSTALLED_ITEMS.")


@strawberry.input(
    description="The billing terms of a new subscription (seed: subscription_billing_terms).")
class BillingTermsInput:
    price_plan: PricePlanIdentifierInput
    scheme_code: str | None = strawberry.field(default=None, description="Default DEFAULT.")
    billing_cycle_day: int | None = strawberry.field(
        default=None, description="1–31; default: the scheme's.")
    agreement_date: dt.date = strawberry.field(description="When the terms were agreed and signed.")
    billing_frequency: BillingFrequency | None = strawberry.field(
        default=None, description="Mandatory for NORMAL schemes, rejected for ONE_TIME ones.")
    performed_by: UserIdentifierInput | None = None
    performed_on: dt.date | None = None
    binding_information: BindingInformationInput | None = None
    concurrent_usage_based_pricing: ConcurrentUsageBasedPricingInput | None = None


@strawberry.input(
    description="A product for an item; quantity and price default to 1 and the plan's.")
class ItemInput:
    product_code: str
    quantity: int | None = strawberry.field(default=None, description="At least 1; default 1.")
    price: Decimal | None = strawberry.field(
        default=None, description="Overrides the plan's price per pricePeriod.")


@strawberry.input(description=(
    "One order action. Fields not applicable to its type are rejected. UPDATE_PRODUCT and "
    "REMOVE_PRODUCT name the item by itemId, or by item.productCode when the subscription "
    "has exactly one open item of that product."))
class OrderActionInput:
    type: OrderActionType
    effective_date: dt.date | None = strawberry.field(
        default=None, description="Default: the order date.")
    subscription_owner_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="CREATE_SUBSCRIPTION; default: the order's account.")
    invoice_owner_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="CREATE_SUBSCRIPTION; default: the subscription owner.")
    billing_terms: BillingTermsInput | None = strawberry.field(
        default=None, description="CREATE_SUBSCRIPTION (mandatory there).")
    items: list[ItemInput] | None = strawberry.field(
        default=None, description="CREATE_SUBSCRIPTION; default: one item per plan charge.")
    item: ItemInput | None = None
    item_id: strawberry.ID | None = None
    new_subscription_owner_account_id: strawberry.ID | None = None
    new_invoice_owner_account_id: strawberry.ID | None = None
    override_binding: bool | None = strawberry.field(
        default=None, description="CANCEL_SUBSCRIPTION: cancel inside the binding period.")


@strawberry.input
class OrderSubscriptionInput:
    subscription_number: str | None = strawberry.field(default=None, description=(
        "An existing subscription, or the number of a new one (then the first action is "
        "CREATE_SUBSCRIPTION); omitted: a new subscription with a generated number."))
    actions: list[OrderActionInput]


@strawberry.input(description=(
    "An order: at most 50 subscriptions and 50 actions in all (createOrderAsync: 300)."))
class CreateOrderInput:
    account_id: strawberry.ID
    order_date: dt.date | None = strawberry.field(default=None, description="Default: today (UTC).")
    order_number: str | None = strawberry.field(
        default=None, description="Unique per tenant; generated (O00000001) when omitted.")
    subscriptions: list[OrderSubscriptionInput]


@strawberry.type
class OrderAction:
    type: OrderActionType
    effective_date: dt.date


@strawberry.type(description="A subscription of an order and the actions the order applied to it.")
class OrderSubscription:
    actions: list[OrderAction]
    subscription_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def subscription(self, info: Info) -> Subscription:
        row = await info.context.loaders.row("subscriptions").load(self.subscription_id)
        if row is None:
            raise NotFound("subscription", self.subscription_id)
        return Subscription.from_row(row)


@strawberry.type(description="An order: the changes it made to subscriptions, in one transaction.")
class Order:
    id: strawberry.ID
    order_number: str
    order_date: dt.date
    created_at: dt.datetime
    account_id: strawberry.Private[uuid.UUID]
    order_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> Order:
        return cls(id=strawberry.ID(str(row["id"])), order_number=row["order_number"],
                   order_date=row["order_date"], created_at=row["created_at"],
                   account_id=row["account_id"], order_id=row["id"])

    @strawberry.field
    async def account(self, info: Info) -> Annotated[Account, strawberry.lazy(".accounts")]:
        return await load_account(info, self.account_id)

    @strawberry.field(description="Its subscriptions in input order, each with its actions.")
    async def subscriptions(self, info: Info) -> list[OrderSubscription]:
        rows = await info.context.loaders.children(
            "order_actions", "order_id", "position").load(self.order_id)
        grouped: dict[uuid.UUID, OrderSubscription] = {}
        for row in rows:
            entry = grouped.setdefault(row["subscription_id"], OrderSubscription(
                actions=[], subscription_id=row["subscription_id"]))
            entry.actions.append(OrderAction(type=OrderActionType(row["type"]),
                                             effective_date=row["effective_date"]))
        return list(grouped.values())


async def load_order(info: Info, order_id: uuid.UUID) -> Order:
    row = await info.context.loaders.row("orders").load(order_id)
    if row is None:
        raise NotFound("order", order_id)
    return Order.from_row(row)
