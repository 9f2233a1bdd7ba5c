"""Catalog types and inputs: products, price plans and their charges, billing term schemes."""

from __future__ import annotations

import uuid
from decimal import Decimal

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info
from billgraph.services.errors import NotFound

from .enums import BillingFrequency, BillingTermSchemeType, ChargeType


@strawberry.type(description="A product of the catalog.")
class Product:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique per tenant.")
    name: str

    @classmethod
    def from_row(cls, row: RowMapping) -> Product:
        return cls(id=strawberry.ID(str(row["id"])), code=row["code"], name=row["name"])


async def load_product(info: Info, product_id: uuid.UUID) -> Product:
    row = await info.context.loaders.row("products").load(product_id)
    if row is None:
        raise NotFound("product", product_id)
    return Product.from_row(row)


@strawberry.type(description="A charge of a price plan: `price` per `pricePeriod` of one product.")
class PlanCharge:
    charge_type: ChargeType
    price: Decimal = strawberry.field(description="The price per pricePeriod.")
    price_period: BillingFrequency = strawberry.field(
        description="The period the price is quoted for (default MONTHLY).")
    product_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> PlanCharge:
        return cls(charge_type=ChargeType(row["charge_type"]), price=row["price"],
                   price_period=BillingFrequency(row["price_period"]),
                   product_id=row["product_id"])

    @strawberry.field
    async def product(self, info: Info) -> Product:
        return await load_product(info, self.product_id)


@strawberry.type(
    description="A price plan: the charges a subscription's items take, in one currency.")
class PricePlan:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique per tenant.")
    name: str
    currency: str
    plan_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> PricePlan:
        return cls(id=strawberry.ID(str(row["id"])), code=row["code"], name=row["name"],
                   currency=row["currency"], plan_id=row["id"])

    @strawberry.field(description="The plan's charges, one per product, in plan order.")
    async def charges(self, info: Info) -> list[PlanCharge]:
        rows = await info.context.loaders.children(
            "plan_charges", "price_plan_id", "position").load(self.plan_id)
        return [PlanCharge.from_row(r) for r in rows]


async def load_price_plan(info: Info, plan_id: uuid.UUID) -> PricePlan:
    row = await info.context.loaders.row("price_plans").load(plan_id)
    if row is None:
        raise NotFound("price plan", plan_id)
    return PricePlan.from_row(row)


@strawberry.type(description=(
    "A billing term scheme: NORMAL (billed at a frequency) or ONE_TIME (billed once at the "
    "start), its default billing cycle day, and whether it is concurrent-usage based."))
class BillingTermScheme:
    id: strawberry.ID
    code: str
    type: BillingTermSchemeType
    billing_cycle_day: int
    concurrent_usage_based: bool

    @classmethod
    def from_row(cls, row: RowMapping) -> BillingTermScheme:
        return cls(id=strawberry.ID(str(row["id"])), code=row["code"],
                   type=BillingTermSchemeType(row["type"]),
                   billing_cycle_day=row["billing_cycle_day"],
                   concurrent_usage_based=row["concurrent_usage_based"])


async def load_scheme(info: Info, scheme_id: uuid.UUID) -> BillingTermScheme:
    row = await info.context.loaders.row("billing_term_schemes").load(scheme_id)
    if row is None:
        raise NotFound("billing term scheme", scheme_id)
    return BillingTermScheme.from_row(row)


@strawberry.input
class CreateProductInput:
    code: str = strawberry.field(description="Unique per tenant.")
    name: str


@strawberry.input
class PlanChargeInput:
    product_code: str = strawberry.field(description="An existing product; one charge per product.")
    charge_type: ChargeType
    price: Decimal = strawberry.field(description="Per pricePeriod; not negative.")
    price_period: BillingFrequency | None = strawberry.field(
        default=None, description="Default MONTHLY; CUSTOMn must be defined by the tenant.")


@strawberry.input
class CreatePricePlanInput:
    code: str = strawberry.field(description="Unique per tenant.")
    name: str
    currency: str | None = strawberry.field(
        default=None, description="ISO 4217 code; the tenant's default currency when omitted.")
    charges: list[PlanChargeInput]


@strawberry.input
class CreateBillingTermSchemeInput:
    code: str = strawberry.field(description="Unique per tenant.")
    type: BillingTermSchemeType
    billing_cycle_day: int | None = strawberry.field(default=None, description="1–31, default 1.")
    concurrent_usage_based: bool | None = strawberry.field(
        default=None, description="Default false.")
