"""Discounts and tax rates: queries and mutations (SPEC §12)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.adjustments import (
    ApplyDiscountInput,
    CreateDiscountInput,
    CreateTaxRateInput,
    Discount,
    SubscriptionDiscount,
    TaxRate,
)
from billgraph.schema.common import parse_id
from billgraph.services import adjustments, catalog

from .mutations import create


async def _created(info: Info, key: str | None, operation: str, payload: Any,
                   write: Callable[[Writer], Awaitable[RowMapping]], table: str,
                   what: str) -> RowMapping:
    """Run a create once per idempotency key (the one create-mutation shape); the row."""
    async def write_id(writer: Writer) -> uuid.UUID:
        return uuid.UUID(str((await write(writer))["id"]))

    async def read(row_id: uuid.UUID) -> RowMapping:
        async with info.context.state.read() as conn:
            return await adjustments.get_row(conn, info.context.tenant_id, table, row_id, what)

    return await create(info, operation=operation, key=key, payload=lambda: payload,
                        write=write_id, read=read)


@strawberry.type
class AdjustmentQueries:
    @strawberry.field(description="The tenant's discounts, by code.")
    async def discounts(self, info: Info) -> list[Discount]:
        async with info.context.state.read() as conn:
            rows = await catalog.list_rows(conn, info.context.tenant_id, "discounts")
        return [Discount.from_row(r) for r in rows]

    @strawberry.field(description="The tenant's tax rates, by code (inactive ones too).")
    async def tax_rates(self, info: Info) -> list[TaxRate]:
        async with info.context.state.read() as conn:
            rows = await catalog.list_rows(conn, info.context.tenant_id, "tax_rates")
        return [TaxRate.from_row(r) for r in rows]


@strawberry.type
class AdjustmentMutations:
    @strawberry.mutation(description="Create a discount (code unique per tenant).")
    async def create_discount(self, info: Info, input: CreateDiscountInput,
                              idempotency_key: str | None = None) -> Discount:
        data = adjustments.CreateDiscount(
            code=input.code, name=input.name, type=input.type.value,
            percentage=input.percentage, amount=input.amount, currency=input.currency,
            duration_periods=input.duration_periods, product_codes=input.product_codes)
        row = await _created(info, idempotency_key, "createDiscount", dataclasses.asdict(data),
                             lambda w: adjustments.create_discount(w, data), "discounts",
                             "discount")
        return Discount.from_row(row)

    @strawberry.mutation(description=(
        "Attach a discount to a subscription from startDate (default: the subscription's "
        "start); it lasts durationPeriods billing periods, the one it starts in first."))
    async def apply_discount(self, info: Info, input: ApplyDiscountInput,
                             idempotency_key: str | None = None) -> SubscriptionDiscount:
        payload = {"subscriptionNumber": input.subscription_number,
                   "discountCode": input.discount_code, "startDate": input.start_date}

        async def attach(writer: Writer) -> RowMapping:
            return await adjustments.apply_discount(
                writer, subscription_number=input.subscription_number,
                discount_code=input.discount_code, start_date=input.start_date)

        row = await _created(info, idempotency_key, "applyDiscount", payload, attach,
                             "subscription_discounts", "subscription discount")
        return SubscriptionDiscount.from_row(row)

    @strawberry.mutation(description=(
        "End an attached discount on endDate (inclusive). Periods already invoiced keep "
        "the discount they were invoiced with."))
    async def remove_discount(
        self, info: Info, subscription_discount_id: strawberry.ID,
        end_date: Annotated[dt.date, strawberry.argument(
            description="Its last day (inclusive), not before its start.")],
    ) -> SubscriptionDiscount:
        sd_id = parse_id(subscription_discount_id, "subscription discount",
                         "subscriptionDiscountId")

        async def work(writer: Writer) -> RowMapping:
            return await adjustments.remove_discount(writer, subscription_discount_id=sd_id,
                                                     end_date=end_date)

        return SubscriptionDiscount.from_row(
            await info.context.state.write(info.context.tenant_id, work))

    @strawberry.mutation(description="Create a tax rate (code unique per tenant).")
    async def create_tax_rate(self, info: Info, input: CreateTaxRateInput,
                              idempotency_key: str | None = None) -> TaxRate:
        data = adjustments.CreateTaxRate(
            code=input.code, name=input.name, percentage=input.percentage,
            country=input.country, region=input.region, product_codes=input.product_codes)
        row = await _created(info, idempotency_key, "createTaxRate", dataclasses.asdict(data),
                             lambda w: adjustments.create_tax_rate(w, data), "tax_rates",
                             "tax rate")
        return TaxRate.from_row(row)

    @strawberry.mutation(description=(
        "Stop a tax rate: periods not yet invoiced are no longer taxed by it; posted "
        "invoices keep their tax."))
    async def deactivate_tax_rate(self, info: Info, id: strawberry.ID) -> TaxRate:
        rate_id = parse_id(id, "tax rate")

        async def work(writer: Writer) -> RowMapping:
            return await adjustments.deactivate_tax_rate(writer, rate_id)

        return TaxRate.from_row(await info.context.state.write(info.context.tenant_id, work))
