"""Invoice queries and mutations, standalone invoices included."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.billing import (
    Invoice,
    InvoiceConnection,
    InvoiceFilter,
    InvoiceResult,
    StandaloneInvoiceInput,
    job_errors,
)
from billgraph.schema.common import parse_id, requested_page
from billgraph.services import accounts, invoices, standalone_invoices
from billgraph.services.idempotency import Result

from .mutations import create_result


async def invoice_connection(info: Info, first: int | None, after: str | None,
                             filters: invoices.InvoiceFilter) -> InvoiceConnection:
    """A page of the tenant's invoices."""
    page = requested_page(info, first, after)
    async with info.context.state.read() as conn:
        result = await invoices.list_invoices(conn, info.context.tenant_id, page, filters)
    return InvoiceConnection.from_page(result)


async def fetch_invoice(info: Info, invoice_id: uuid.UUID) -> Invoice:
    async with info.context.state.read() as conn:
        return Invoice.from_row(await invoices.get_invoice(conn, info.context.tenant_id,
                                                           invoice_id))


def _standalone(item: StandaloneInvoiceInput) -> standalone_invoices.StandaloneInvoice:
    return standalone_invoices.StandaloneInvoice(
        account_id=str(item.account_id), invoice_date=item.invoice_date,
        due_date=item.due_date, invoice_number=item.invoice_number, post=item.post,
        apply_taxes=item.apply_taxes,
        lines=[standalone_invoices.LineInput(
            description=ln.description, unit_price=ln.unit_price, product_code=ln.product_code,
            quantity=ln.quantity, service_period_start=ln.service_period_start,
            service_period_end=ln.service_period_end) for ln in item.lines],
    )


def _fingerprint(item: standalone_invoices.StandaloneInvoice) -> list[object]:
    """The input as plain JSON-able values, for the idempotency hash (cheaper than asdict)."""
    return [item.account_id, item.invoice_date, item.due_date, item.invoice_number, item.post,
            [[ln.description, ln.unit_price, ln.product_code, ln.quantity,
              ln.service_period_start, ln.service_period_end] for ln in item.lines]]


@strawberry.type
class InvoiceQueries:
    @strawberry.field(description="One invoice, by id or invoice number.")
    async def invoice(self, info: Info, id: strawberry.ID | None = None,
                      invoice_number: str | None = None) -> Invoice | None:
        invoice_id = parse_id(id, "invoice") if id is not None else None
        async with info.context.state.read() as conn:
            row = await invoices.find_invoice(conn, info.context.tenant_id,
                                              invoice_id=invoice_id,
                                              invoice_number=invoice_number)
        return Invoice.from_row(row)

    @strawberry.field(description="A page of the tenant's invoices, oldest first.")
    async def invoices(self, info: Info, first: int | None = None, after: str | None = None,
                       filter: InvoiceFilter | None = None) -> InvoiceConnection:
        filters = invoices.InvoiceFilter(
            account_id=(parse_id(filter.account_id, "account", "filter.accountId")
                        if filter and filter.account_id is not None else None),
            status=filter.status.value if filter and filter.status else None,
        )
        if filters.account_id is not None:  # another tenant's account is NOT_FOUND
            async with info.context.state.read() as conn:
                await accounts.get_account(conn, info.context.tenant_id, filters.account_id,
                                           field="filter.accountId")
        return await invoice_connection(info, first, after, filters)


@strawberry.type
class InvoiceMutations:
    @strawberry.mutation(description=(
        "Create up to 1,000 standalone invoices (free lines, no subscription). Each item "
        "succeeds or fails on its own: one result per input, in order. The valid items are "
        "written in one transaction."))
    async def create_standalone_invoices(
        self, info: Info, inputs: list[StandaloneInvoiceInput],
        idempotency_key: str | None = None,
    ) -> list[InvoiceResult]:
        items = [_standalone(i) for i in inputs]
        created: dict[uuid.UUID, Any] = {}  # the rows this call wrote: no read-back

        async def write(writer: Writer) -> Result:
            created.clear()  # (a retried transaction writes them again)
            return {"results": await standalone_invoices.create_standalone_invoices(
                writer, items, created=created)}

        async def read(result: Result) -> list[InvoiceResult]:
            results = result["results"]
            ids = [uuid.UUID(str(r["id"])) for r in results if "id" in r]
            rows = created
            if any(i not in created for i in ids):  # a replayed key's invoices
                async with info.context.state.read() as conn:
                    rows = await invoices.get_invoices(conn, info.context.tenant_id, ids)
            return [
                InvoiceResult(invoice=Invoice.from_row(rows[uuid.UUID(str(r["id"]))]), errors=[])
                if "id" in r else InvoiceResult(invoice=None, errors=job_errors(r["errors"]))
                for r in results
            ]

        return await create_result(info, operation="createStandaloneInvoices",
                                   key=idempotency_key,
                                   payload=lambda: [_fingerprint(i) for i in items],
                                   write=write, read=read)

    @strawberry.mutation(description="Post a DRAFT invoice: its amount becomes owed.")
    async def post_invoice(self, info: Info, id: strawberry.ID) -> Invoice:
        invoice_id = parse_id(id, "invoice")

        async def work(writer: Writer) -> None:
            await invoices.post_invoice(writer, invoice_id)

        await info.context.state.write(info.context.tenant_id, work)
        return await fetch_invoice(info, invoice_id)

    @strawberry.mutation(description=(
        "Cancel a DRAFT or POSTED invoice; only while no payment or credit memo is applied."))
    async def cancel_invoice(self, info: Info, id: strawberry.ID) -> Invoice:
        invoice_id = parse_id(id, "invoice")

        async def work(writer: Writer) -> None:
            await invoices.cancel_invoice(writer, invoice_id)

        await info.context.state.write(info.context.tenant_id, work)
        return await fetch_invoice(info, invoice_id)
