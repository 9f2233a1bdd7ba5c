"""Discounts, tax rates, billing addresses and line taxes: types and inputs (SPEC §12)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info


@strawberry.enum(description="PERCENTAGE of the line amount, or a FIXED_AMOUNT per period.")
class DiscountType(Enum):
    PERCENTAGE = "PERCENTAGE"
    FIXED_AMOUNT = "FIXED_AMOUNT"


@strawberry.type(description="A discount of the catalog; applyDiscount attaches it.")
class Discount:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique per tenant.")
    name: str = strawberry.field(description="Shown to people.")
    type: DiscountType = strawberry.field(description="PERCENTAGE or FIXED_AMOUNT.")
    percentage: Decimal | None = strawberry.field(description="PERCENTAGE: 0 < p ≤ 100.")
    amount: Decimal | None = strawberry.field(description="FIXED_AMOUNT: per billing period.")
    currency: str | None = strawberry.field(description="FIXED_AMOUNT only.")
    duration_periods: int | None = strawberry.field(description=(
        "Billing periods it lasts, the one it starts in first; null: as long as the "
        "subscription runs."))
    product_codes: list[str] = strawberry.field(
        description="Products it discounts; empty: every charge of the subscription.")

    @classmethod
    def from_row(cls, row: RowMapping) -> Discount:
        return cls(id=strawberry.ID(str(row["id"])), code=row["code"], name=row["name"],
                   type=DiscountType(row["type"]), percentage=row["percentage"],
                   amount=row["amount"], currency=row["currency"],
                   duration_periods=row["duration_periods"],
                   product_codes=list(row["product_codes"]))


@strawberry.input(description="A new discount.")
class CreateDiscountInput:
    code: str = strawberry.field(description="Unique per tenant, e.g. PARTNER20.")
    name: str = strawberry.field(description="Shown to people.")
    type: DiscountType = strawberry.field(description="PERCENTAGE or FIXED_AMOUNT.")
    percentage: Decimal | None = strawberry.field(default=None,
                                                  description="PERCENTAGE: 0 < p ≤ 100.")
    amount: Decimal | None = strawberry.field(
        default=None, description="FIXED_AMOUNT: per billing period, > 0.")
    currency: str | None = strawberry.field(
        default=None, description="FIXED_AMOUNT: must match the subscriptions' currency.")
    duration_periods: int | None = strawberry.field(
        default=None, description="≥ 1; omitted: open-ended.")
    product_codes: list[str] | None = strawberry.field(
        default=None, description="Products it discounts; omitted: every charge.")


@strawberry.type(description="A discount attached to a subscription.")
class SubscriptionDiscount:
    id: strawberry.ID
    start_date: dt.date = strawberry.field(description="First day it applies.")
    end_date: dt.date | None = strawberry.field(description=(
        "Inclusive; from durationPeriods or removeDiscount; null: open-ended."))
    discount_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> SubscriptionDiscount:
        return cls(id=strawberry.ID(str(row["id"])), start_date=row["start_date"],
                   end_date=row["end_date"], discount_id=row["discount_id"])

    @strawberry.field(description="The discount attached.")
    async def discount(self, info: Info) -> Discount:
        return Discount.from_row(await info.context.loaders.discount.one(self.discount_id))


@strawberry.input(description="Attach a discount to a subscription.")
class ApplyDiscountInput:
    subscription_number: str = strawberry.field(description="The subscription discounted.")
    discount_code: str = strawberry.field(description="The discount's code.")
    start_date: dt.date | None = strawberry.field(
        default=None, description="Default: the subscription's start date.")


@strawberry.type(description="A tax rate by country, region and product.")
class TaxRate:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique per tenant.")
    name: str = strawberry.field(description="Shown to people.")
    percentage: Decimal = strawberry.field(description="0 ≤ p ≤ 100.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    region: str | None = strawberry.field(description="null: the whole country.")
    product_codes: list[str] = strawberry.field(description="Empty: every product.")
    active: bool = strawberry.field(description="Inactive rates tax nothing new.")

    @classmethod
    def from_row(cls, row: RowMapping) -> TaxRate:
        return cls(id=strawberry.ID(str(row["id"])), code=row["code"], name=row["name"],
                   percentage=row["percentage"], country=row["country"], region=row["region"],
                   product_codes=list(row["product_codes"]), active=row["active"])


@strawberry.input(description="A new tax rate.")
class CreateTaxRateInput:
    code: str = strawberry.field(description="Unique per tenant, e.g. DE-VAT.")
    name: str = strawberry.field(description="Shown to people.")
    percentage: Decimal = strawberry.field(description="0 ≤ p ≤ 100.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. DE.")
    region: str | None = strawberry.field(default=None, description="Omitted: the whole country.")
    product_codes: list[str] | None = strawberry.field(
        default=None, description="Omitted: every product.")


@strawberry.type(description="Where an account is billed: its country decides its taxes.")
class BillingAddress:
    country: str = strawberry.field(description="ISO 3166-1 alpha-2.")
    region: str | None = strawberry.field(description="State or region: regional rates.")
    city: str | None = strawberry.field(description="City.")
    postal_code: str | None = strawberry.field(description="Postal code.")
    line1: str | None = strawberry.field(description="Street and number.")

    @classmethod
    def of(cls, row: RowMapping) -> BillingAddress | None:
        if row.get("billing_country") is None:
            return None
        return cls(country=row["billing_country"], region=row["billing_region"],
                   city=row["billing_city"], postal_code=row["billing_postal_code"],
                   line1=row["billing_line1"])


@strawberry.input(description="An account's billing address.")
class BillingAddressInput:
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. DE.")
    region: str | None = strawberry.field(
        default=None, description="State or region, e.g. BY: regional rates apply.")
    city: str | None = strawberry.field(default=None, description="City.")
    postal_code: str | None = strawberry.field(default=None, description="Postal code.")
    line1: str | None = strawberry.field(default=None, description="Street and number.")


@strawberry.type(description="The tax of an invoice line under one rate.")
class LineTax:
    percentage: Decimal = strawberry.field(description="The rate's percentage when invoiced.")
    amount: Decimal = strawberry.field(
        description="(amount − discountAmount) × percentage, rounded half-up.")
    tax_rate_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The rate.")
    async def tax_rate(self, info: Info) -> TaxRate:
        return TaxRate.from_row(await info.context.loaders.tax_rate.one(self.tax_rate_id))


async def line_taxes(info: Info, line_id: Any) -> list[LineTax]:
    rows = await info.context.loaders.line_taxes.load(line_id)
    return [LineTax(percentage=r["percentage"], amount=r["amount"],
                    tax_rate_id=r["tax_rate_id"]) for r in rows]


async def subscription_discounts(info: Info, subscription_id: Any) -> list[SubscriptionDiscount]:
    rows = await info.context.loaders.subscription_discounts.load(subscription_id)
    return [SubscriptionDiscount.from_row(r) for r in rows]
