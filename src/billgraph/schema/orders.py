"""Order types and inputs (SPEC §5), with the billing terms inputs of CREATE_SUBSCRIPTION."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info

from .accounts import load_account
from .enums import BillingFrequency, BindingPeriod, ConcurrentUsageBillingMethod, OrderActionType
from .input_plans import planned
from .subscriptions import Subscription

if TYPE_CHECKING:
    from .accounts import Account


@strawberry.input(
    description="A price plan by id or code: at least one; both must name the same plan.")
class PricePlanIdentifierInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="The plan's id.")
    code: str | None = strawberry.field(default=None, description="The plan's code.")


@strawberry.input(
    description="A tenant user by id or username: at least one; both must name the same user.")
class UserIdentifierInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="The user's id.")
    username: str | None = strawberry.field(default=None, description="The user's username.")


@strawberry.input(description="A binding period; it ends the day before start + period.")
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
    price_plan: PricePlanIdentifierInput = strawberry.field(
        description="The price plan, by id or code.")
    scheme_code: str | None = strawberry.field(default=None, description="Default DEFAULT.")
    billing_cycle_day: int | None = strawberry.field(
        default=None, description="1–31; default: the scheme's.")
    agreement_date: dt.date = strawberry.field(description="When the terms were agreed and signed.")
    billing_frequency: BillingFrequency | None = strawberry.field(
        default=None, description="Mandatory for NORMAL schemes, rejected for ONE_TIME ones.")
    performed_by: UserIdentifierInput | None = strawberry.field(
        default=None, description="The tenant user who agreed the terms (only when creating).")
    performed_on: dt.date | None = strawberry.field(
        default=None, description="When the terms were recorded (only when creating).")
    binding_information: BindingInformationInput | None = strawberry.field(
        default=None, description="A binding (commitment) period.")
    concurrent_usage_based_pricing: ConcurrentUsageBasedPricingInput | None = strawberry.field(
        default=None, description=(
        "Required under a concurrent-usage based scheme, refused otherwise."))


@strawberry.input(
    description="A product for an item; quantity and price default to 1 and the plan's.")
class ItemInput:
    product_code: str = strawberry.field(description="A product of the subscription's price plan.")
    quantity: int | None = strawberry.field(default=None, description="At least 1; default 1.")
    price: Decimal | None = strawberry.field(
        default=None, description="Overrides the plan's price per pricePeriod.")


@strawberry.input(description=(
    "One order action. Fields not applicable to its type are rejected. UPDATE_PRODUCT and "
    "REMOVE_PRODUCT name the item by itemId, or by item.productCode when the subscription "
    "has exactly one open item of that product."))
class OrderActionInput:
    type: OrderActionType = strawberry.field(
        description="Which action; the fields it needs are marked per action.")
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
    item: ItemInput | None = strawberry.field(
        default=None, description=(
        "ADD_PRODUCT: the new item; UPDATE_PRODUCT: its new quantity or price."))
    item_id: strawberry.ID | None = strawberry.field(
        default=None, description=(
        "UPDATE_PRODUCT, REMOVE_PRODUCT: the SubscriptionItem.id to change."))
    new_subscription_owner_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="OWNER_TRANSFER: the new subscription owner.")
    new_invoice_owner_account_id: strawberry.ID | None = strawberry.field(
        default=None, description="OWNER_TRANSFER: the new invoice owner.")
    override_binding: bool | None = strawberry.field(
        default=None, description="CANCEL_SUBSCRIPTION: cancel inside the binding period.")


@strawberry.input(description="The actions for one subscription.")
class OrderSubscriptionInput:
    subscription_number: str | None = strawberry.field(default=None, description=(
        "An existing subscription, or the number of a new one (then the first action is "
        "CREATE_SUBSCRIPTION); omitted: a new subscription with a generated number."))
    actions: list[OrderActionInput] = strawberry.field(description="Applied in order.")


@planned  # converted by a plan made once (input_plans.py): the hot mutation's input
@strawberry.input(description=(
    "An order: at most 50 subscriptions and 50 actions in all (createOrderAsync: 300)."))
class CreateOrderInput:
    account_id: strawberry.ID = strawberry.field(description="The account placing the order.")
    order_date: dt.date | None = strawberry.field(default=None, description="Default: today (UTC).")
    order_number: str | None = strawberry.field(
        default=None, description="Unique per tenant; generated (O00000001) when omitted.")
    subscriptions: list[OrderSubscriptionInput] = strawberry.field(
        description="The subscriptions to create or change, each with its actions.")


@strawberry.type(description="One action an order applied to a subscription.")
class OrderAction:
    type: OrderActionType = strawberry.field(description="What the action did.")
    effective_date: dt.date = strawberry.field(description="When the action takes effect.")


@strawberry.type(description="A subscription of an order and the actions the order applied to it.")
class OrderSubscription:
    actions: list[OrderAction] = strawberry.field(
        description="The actions applied to the subscription, in order.")
    subscription_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The subscription as it is now.")
    async def subscription(self, info: Info) -> Subscription:
        return Subscription.from_row(
            await info.context.loaders.subscription.one(self.subscription_id))


@strawberry.type(description="An order: the changes it made to subscriptions, in one transaction.")
class Order:
    id: strawberry.ID
    order_number: str = strawberry.field(
        description="Unique per tenant (O00000001 when generated).")
    order_date: dt.date = strawberry.field(
        description="The order's date (the default effective date of its actions).")
    created_at: dt.datetime
    account_id: strawberry.Private[uuid.UUID]
    order_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> Order:
        return cls(id=strawberry.ID(str(row["id"])), order_number=row["order_number"],
                   order_date=row["order_date"], created_at=row["created_at"],
                   account_id=row["account_id"], order_id=row["id"])

    @strawberry.field(description="The account that placed the order.")
    async def account(self, info: Info) -> Annotated[Account, strawberry.lazy(".accounts")]:
        return await load_account(info, self.account_id)

    @strawberry.field(description="Its subscriptions in input order, each with its actions.")
    async def subscriptions(self, info: Info) -> list[OrderSubscription]:
        rows = await info.context.loaders.order_actions.load(self.order_id)
        grouped: dict[uuid.UUID, OrderSubscription] = {}
        for row in rows:
            entry = grouped.setdefault(row["subscription_id"], OrderSubscription(
                actions=[], subscription_id=row["subscription_id"]))
            entry.actions.append(OrderAction(type=OrderActionType(row["type"]),
                                             effective_date=row["effective_date"]))
        return list(grouped.values())


async def load_order(info: Info, order_id: uuid.UUID) -> Order:
    return Order.from_row(await info.context.loaders.order.one(order_id))
