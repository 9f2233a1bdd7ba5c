"""Catalog types and inputs: products, price plans and their charges, billing term schemes."""

from __future__ import annotations

import uuid
from decimal import Decimal

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info

from .common import Soon, now_or_later, one_now_or_later
from .enums import BillingFrequency, BillingTermSchemeType, ChargeType
from .pricing import PriceTier, PriceTierInput, PricingModel, UsageAggregation, price_tiers


@strawberry.type(description="A product of the catalog.")
class Product:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique per tenant.")
    name: str = strawberry.field(description="The product's display name.")

    @classmethod
    def from_row(cls, row: RowMapping) -> Product:
        return cls(id=strawberry.ID(str(row["id"])), code=row["code"], name=row["name"])


async def load_product(info: Info, product_id: uuid.UUID) -> Product:
    return Product.from_row(await info.context.loaders.product.one(product_id))


def product_of(info: Info, product_id: uuid.UUID) -> Soon[Product]:
    """The product, at once when this request already loaded it."""
    return one_now_or_later(info.context.loaders.product, product_id, Product.from_row)


@strawberry.type(description="A charge of a price plan: `price` per `pricePeriod` of one product.")
class PlanCharge:
    charge_type: ChargeType = strawberry.field(description="RECURRING, ONE_TIME or USAGE.")
    price: Decimal = strawberry.field(description="The price per pricePeriod.")
    price_period: BillingFrequency = strawberry.field(
        description="The period the price is quoted for (default MONTHLY).")
    pricing_model: PricingModel = strawberry.field(description=(
        "How a quantity is priced (PER_UNIT by default); TIERED and VOLUME take their "
        "prices from tiers, not price."))
    tiers: list[PriceTier] = strawberry.field(
        description="TIERED and VOLUME only (empty otherwise), ascending by upTo.")
    package_size: int | None = strawberry.field(description="PACKAGE only: units per package.")
    usage_aggregation: UsageAggregation | None = strawberry.field(
        description="USAGE charges only: how a period's records make its quantity.")
    unit_of_measure: str | None = strawberry.field(
        description='USAGE charges only, e.g. "GB", "device-day".')
    product_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> PlanCharge:
        aggregation = row["usage_aggregation"]
        return cls(charge_type=ChargeType(row["charge_type"]), price=row["price"],
                   price_period=BillingFrequency(row["price_period"]),
                   pricing_model=PricingModel(row["pricing_model"]), tiers=price_tiers(row),
                   package_size=row["package_size"],
                   usage_aggregation=UsageAggregation(aggregation) if aggregation else None,
                   unit_of_measure=row["unit_of_measure"], product_id=row["product_id"])

    @classmethod
    def from_rows(cls, rows: list[RowMapping]) -> list[PlanCharge]:
        return [cls.from_row(r) for r in rows]

    @strawberry.field(description="The product charged.", graphql_type=Product)
    def product(self, info: Info) -> Soon[Product]:
        return product_of(info, self.product_id)


@strawberry.type(
    description="A price plan: the charges a subscription's items take, in one currency.")
class PricePlan:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique per tenant.")
    name: str = strawberry.field(description="The plan's display name.")
    currency: str = strawberry.field(description="ISO 4217 code of the plan's prices.")
    plan_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> PricePlan:
        return cls(id=strawberry.ID(str(row["id"])), code=row["code"], name=row["name"],
                   currency=row["currency"], plan_id=row["id"])

    @strawberry.field(description="The plan's charges, one per product, in plan order.",
                      graphql_type=list[PlanCharge])
    def charges(self, info: Info) -> Soon[list[PlanCharge]]:
        loader = info.context.loaders.plan_charges
        return now_or_later(loader.peek(self.plan_id), lambda: loader.load(self.plan_id),
                            PlanCharge.from_rows)


async def load_price_plan(info: Info, plan_id: uuid.UUID) -> PricePlan:
    return PricePlan.from_row(await info.context.loaders.price_plan.one(plan_id))


def price_plan_of(info: Info, plan_id: uuid.UUID) -> Soon[PricePlan]:
    """The price plan, at once when this request already loaded it."""
    return one_now_or_later(info.context.loaders.price_plan, plan_id, PricePlan.from_row)


@strawberry.type(description=(
    "A billing term scheme: NORMAL (billed at a frequency) or ONE_TIME (billed once at the "
    "start), its default billing cycle day, and whether it is concurrent-usage based."))
class BillingTermScheme:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique per tenant (each tenant starts with DEFAULT).")
    type: BillingTermSchemeType = strawberry.field(
        description="NORMAL (billed at a frequency) or ONE_TIME (billed once).")
    billing_cycle_day: int = strawberry.field(
        description="Default billing cycle day (1-31) of terms on this scheme.")
    concurrent_usage_based: bool = strawberry.field(
        description="Whether terms on this scheme need concurrentUsageBasedPricing.")

    @classmethod
    def from_row(cls, row: RowMapping) -> BillingTermScheme:
        return cls(id=strawberry.ID(str(row["id"])), code=row["code"],
                   type=BillingTermSchemeType(row["type"]),
                   billing_cycle_day=row["billing_cycle_day"],
                   concurrent_usage_based=row["concurrent_usage_based"])


async def load_scheme(info: Info, scheme_id: uuid.UUID) -> BillingTermScheme:
    return BillingTermScheme.from_row(
        await info.context.loaders.billing_term_scheme.one(scheme_id))


def scheme_of(info: Info, scheme_id: uuid.UUID) -> Soon[BillingTermScheme]:
    """The billing term scheme, at once when this request already loaded it."""
    return one_now_or_later(info.context.loaders.billing_term_scheme, scheme_id,
                            BillingTermScheme.from_row)


@strawberry.input(description="A new product.")
class CreateProductInput:
    code: str = strawberry.field(description="Unique per tenant.")
    name: str = strawberry.field(description="The product's display name.")


@strawberry.input(description="A charge of a price plan.")
class PlanChargeInput:
    product_code: str = strawberry.field(description="An existing product; one charge per product.")
    charge_type: ChargeType = strawberry.field(description="RECURRING, ONE_TIME or USAGE.")
    price: Decimal = strawberry.field(description="Per pricePeriod; not negative.")
    price_period: BillingFrequency | None = strawberry.field(
        default=None, description="Default MONTHLY; CUSTOMn must be defined by the tenant.")
    pricing_model: PricingModel | None = strawberry.field(default=None,
                                                          description="Default PER_UNIT.")
    tiers: list[PriceTierInput] | None = strawberry.field(default=None, description=(
        "TIERED and VOLUME only: ascending upTo, the last tier open (upTo null)."))
    package_size: int | None = strawberry.field(default=None,
                                                description="PACKAGE only: 1 or more.")
    usage_aggregation: UsageAggregation | None = strawberry.field(
        default=None, description="USAGE charges only; default SUM.")
    unit_of_measure: str | None = strawberry.field(
        default=None, description='USAGE charges only, e.g. "GB", "device-day".')


@strawberry.input(description="A new price plan with its charges.")
class CreatePricePlanInput:
    code: str = strawberry.field(description="Unique per tenant.")
    name: str = strawberry.field(description="The plan's display name.")
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217 code; the tenant's default currency when omitted.")
    charges: list[PlanChargeInput] = strawberry.field(description="At least one charge.")


@strawberry.input(description="A new billing term scheme.")
class CreateBillingTermSchemeInput:
    code: str = strawberry.field(description="Unique per tenant.")
    type: BillingTermSchemeType = strawberry.field(description="NORMAL or ONE_TIME.")
    billing_cycle_day: int | None = strawberry.field(default=None, description="1–31, default 1.")
    concurrent_usage_based: bool | None = strawberry.field(
        default=None, description="Default false.")
