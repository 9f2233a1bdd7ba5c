"""Pricing models, tiers and usage (SPEC §11): types, inputs and enums."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import RowMapping
from strawberry.types.arguments import InputContext

from billgraph.context import Info
from billgraph.services import metered_usage
from billgraph.services.billing import metering, pricing
from billgraph.services.errors import BadUserInput

from .common import JobError
from .enums import ErrorCode

if TYPE_CHECKING:
    from .catalog import Product
    from .subscriptions import Subscription

# strawberry.enum marks the services' enums themselves (one class each, as ErrorCode)
strawberry.enum(pricing.PricingModel, description=(
    "How a quantity is priced: PER_UNIT (quantity × price), FLAT_FEE (the price whatever "
    "the quantity; nothing for 0), TIERED (graduated: each unit at its tier's unitPrice, "
    "plus the flatFee of every tier reached), VOLUME (every unit at the unitPrice of the "
    "one tier the whole quantity falls in, plus its flatFee), PACKAGE (price for every "
    "started package of packageSize units)."))
PricingModel = pricing.PricingModel
strawberry.enum(metering.UsageAggregation, description=(
    "How a USAGE charge's records of a service period make its quantity: SUM (their "
    "total), MAX (the largest record), LAST (the record with the latest timestamp)."))
UsageAggregation = metering.UsageAggregation


@strawberry.type(description="A price tier of a TIERED or VOLUME charge.")
class PriceTier:
    up_to: Decimal | None = strawberry.field(description=(
        "Inclusive upper bound of the tier's quantity; null on the (open) last tier."))
    unit_price: Decimal = strawberry.field(description="The price of a unit in this tier.")
    flat_fee: Decimal = strawberry.field(description="Added once when the tier is reached.")

    @classmethod
    def of(cls, tier: pricing.Tier) -> PriceTier:
        return cls(up_to=tier.up_to, unit_price=tier.unit_price, flat_fee=tier.flat_fee)


@strawberry.input(description="A price tier; tiers ascend by upTo and the last is open.")
class PriceTierInput:
    up_to: Decimal | None = strawberry.field(default=None, description=(
        "Inclusive upper bound, greater than the previous tier's; null on the last tier."))
    unit_price: Decimal = strawberry.field(description="Not negative.")
    flat_fee: Decimal | None = strawberry.field(default=None,
                                                description="Default 0; not negative.")

    def to_tier(self) -> pricing.Tier:
        return pricing.Tier(self.up_to, self.unit_price, self.flat_fee or Decimal(0))


def price_tiers(row: RowMapping) -> list[PriceTier]:
    return [PriceTier.of(t) for t in pricing.tiers_from_json(row["tiers"])]


@strawberry.input(description="One usage record of a USAGE item.")
class UsageRecordInput:
    record_id: str = strawberry.field(
        description="Unique per tenant: a record sent again counts once.")
    subscription_number: str = strawberry.field(description="The subscription used.")
    product_code: str = strawberry.field(description="A USAGE item of the subscription.")
    quantity: Decimal = strawberry.field(description="0 or more.")
    timestamp: dt.datetime = strawberry.field(description=(
        "When it was used; it belongs to the service period holding its UTC date."))


def _record_from_input(cls: type, value: Mapping[str, Any],
                       context: InputContext) -> metered_usage.UsageRecordInput:
    """UsageRecordInput straight into the service's record (strawberry's ``from_input``
    hook): every field is a scalar graphql-core has already parsed, so the generic
    per-field conversion (a third of a 10,000-record call) has nothing to do."""
    return metered_usage.UsageRecordInput(
        record_id=value["recordId"], subscription_number=value["subscriptionNumber"],
        product_code=value["productCode"], quantity=value["quantity"],
        timestamp=value["timestamp"])


UsageRecordInput.__strawberry_definition__.from_input = _record_from_input  # type: ignore[attr-defined]


@strawberry.type(description="What became of one usage record.")
class UsageRecordResult:
    record_id: str = strawberry.field(description="The record's recordId, as sent.")
    accepted: bool = strawberry.field(description="Stored now.")
    duplicate: bool = strawberry.field(
        description="This recordId was stored before: counted once, not an error.")
    errors: list[JobError] = strawberry.field(description="Why it was refused (naming the field).")

    @classmethod
    def of(cls, result: metered_usage.UsageRecordResult) -> UsageRecordResult:
        return cls(record_id=result.record_id, accepted=result.accepted,
                   duplicate=result.duplicate,
                   errors=[JobError(code=ErrorCode(e["code"]), message=e["message"],
                                    field=e.get("field")) for e in result.errors])


@strawberry.type(description="A USAGE item's service period: its usage and what it costs.")
class UsageSummary:
    period_start: dt.date = strawberry.field(description="The service period's first day.")
    period_end: dt.date = strawberry.field(description="Inclusive.")
    quantity: Decimal = strawberry.field(
        description="The period's records aggregated by the charge's usageAggregation.")
    record_count: int = strawberry.field(description="How many usage records the period holds.")
    amount: Decimal = strawberry.field(
        description="What that quantity costs under the charge's pricing model.")
    billed: bool = strawberry.field(description="A bill run has invoiced this period.")
    subscription_id: strawberry.Private[uuid.UUID]
    product_id: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, s: metered_usage.UsageSummary) -> UsageSummary:
        return cls(period_start=s.period_start, period_end=s.period_end, quantity=s.quantity,
                   record_count=s.record_count, amount=s.amount, billed=s.billed,
                   subscription_id=s.subscription_id, product_id=s.product_id)

    @strawberry.field(description="The subscription the USAGE item belongs to.")
    async def subscription(
        self, info: Info
    ) -> Annotated[Subscription, strawberry.lazy(".subscriptions")]:
        from .subscriptions import Subscription

        return Subscription.from_row(
            await info.context.loaders.subscription.one(self.subscription_id))

    @strawberry.field(description="The product of the USAGE item.")
    async def product(self, info: Info) -> Annotated[Product, strawberry.lazy(".catalog")]:
        from .catalog import load_product

        return await load_product(info, self.product_id)


async def subscription_usage(info: Info, subscription_id: uuid.UUID, start: dt.date | None,
                             end: dt.date | None) -> list[UsageSummary]:
    """The summaries of one subscription's USAGE items over [start, end] (default: the
    service period holding today's UTC date)."""
    today = dt.datetime.now(dt.UTC).date()
    start = start or end or today
    end = end or max(start, today)
    if end < start:
        raise BadUserInput("to", "must not be before from")
    found = await info.context.loaders.usage_summaries.load((subscription_id, start, end))
    return [UsageSummary.of(s) for s in found]
