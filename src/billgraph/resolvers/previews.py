"""billingPreview and previewOrder: queries (a READ key may run them) that write nothing."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from billgraph.context import Info
from billgraph.schema.common import parse_id
from billgraph.schema.orders import CreateOrderInput
from billgraph.schema.previews import BillingPreviewInput, InvoicePreview, OrderPreview
from billgraph.services.billing import preview as billing
from billgraph.services.orders import preview as orders

from .orders import order_input


@strawberry.type
class PreviewQueries:
    @strawberry.field(description=(
        "The invoices billRun with the same input would create now, line for line and cent "
        "for cent (the bill run's own code), computed in a read-only transaction: nothing "
        "is written, no number taken, no event sent."))
    async def billing_preview(self, info: Info, input: BillingPreviewInput) -> list[InvoicePreview]:
        data = billing.PreviewInput(
            target_date=input.target_date, invoice_date=input.invoice_date,
            account_ids=None if input.account_ids is None else [
                parse_id(a, "account", f"accountIds[{i}]")
                for i, a in enumerate(input.account_ids)])
        async with info.context.state.read_only() as conn:
            invoices = await billing.billing_preview(conn, info.context.tenant_id, data)
        return [InvoicePreview.of(i) for i in invoices]

    @strawberry.field(description=(
        "What createOrder with this input would do — the subscriptions, each touched "
        "account's contractedMrr before and after and, with targetDate, the invoices a bill "
        "run through that date would then create — run by createOrder's own code in a "
        "transaction that is rolled back. An order that would fail answers createOrder's "
        "error."))
    async def preview_order(
        self, info: Info, input: CreateOrderInput,
        target_date: Annotated[dt.date | None, strawberry.argument(
            description="Also preview a bill run through this date.")] = None,
    ) -> OrderPreview:
        data = order_input(input)
        async with info.context.state.rolled_back(info.context.tenant_id) as writer:
            result = await orders.preview_order(writer, data, target_date)
        return OrderPreview.of(result)
