"""Invoices: lookups, pages, posting and cancelling.

An invoice's balance is what is still owed on it: its amount until payments or
credit memos are applied (services/applications.py lowers it), 0 once canceled.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import clock
from billgraph.db.tx import Writer

from . import metrics
from .errors import BadUserInput, NotFound
from .pagination import Page, PageRequest, keyset_page, keyset_pages
from .webhooks import outbox

STATUSES = ("DRAFT", "POSTED", "CANCELED")


@dataclass
class InvoiceFilter:
    account_id: uuid.UUID | None = None
    status: str | None = None


async def get_invoice(conn: AsyncConnection, tenant_id: uuid.UUID, invoice_id: uuid.UUID, *,
                      field: str = "id", lock: bool = False) -> RowMapping:
    row = (await conn.execute(
        text("SELECT * FROM invoices WHERE tenant_id = :t AND id = :id"
             + (" FOR UPDATE" if lock else "")),
        {"t": tenant_id, "id": invoice_id},
    )).mappings().first()
    if row is None:
        raise NotFound("invoice", invoice_id, field=field)
    return row


async def find_invoice(conn: AsyncConnection, tenant_id: uuid.UUID, *,
                       invoice_id: uuid.UUID | None = None,
                       invoice_number: str | None = None) -> RowMapping:
    """One invoice by id and/or number (both given: both must match)."""
    if invoice_id is None and invoice_number is None:
        raise BadUserInput("id", "give id or invoiceNumber")
    clauses = ["tenant_id = :t"]
    params: dict[str, object] = {"t": tenant_id}
    if invoice_id is not None:
        clauses.append("id = :id")
        params["id"] = invoice_id
    if invoice_number is not None:
        clauses.append("invoice_number = :num")
        params["num"] = invoice_number
    row = (await conn.execute(
        text(f"SELECT * FROM invoices WHERE {' AND '.join(clauses)}"), params
    )).mappings().first()
    if row is None:
        if invoice_id is not None:
            raise NotFound("invoice", invoice_id, field="id")
        raise NotFound("invoice", invoice_number, field="invoiceNumber")
    return row


async def list_invoices(conn: AsyncConnection, tenant_id: uuid.UUID, page: PageRequest,
                        filters: InvoiceFilter) -> Page[RowMapping]:
    """A keyset page of invoices, oldest first (ids are time-ordered)."""
    clauses = ["tenant_id = :t"]
    params: dict[str, object] = {"t": tenant_id}
    if filters.account_id is not None:
        clauses.append("account_id = :account")
        params["account"] = filters.account_id
    if filters.status is not None:
        if filters.status not in STATUSES:
            raise BadUserInput("filter.status", "must be DRAFT, POSTED or CANCELED")
        clauses.append("status = :status")
        params["status"] = filters.status
    return await keyset_page(conn, "invoices", " AND ".join(clauses), params, page)


async def pages_by_account(conn: AsyncConnection, tenant_id: uuid.UUID,
                           account_ids: Sequence[uuid.UUID],
                           page: PageRequest) -> dict[uuid.UUID, Page[RowMapping]]:
    """The same page of invoices of each account, in two statements for all."""
    return await keyset_pages(conn, tenant_id, "invoices", "account_id", account_ids, page)


async def post_invoice(writer: Writer, invoice_id: uuid.UUID) -> None:
    """DRAFT → POSTED: the whole amount becomes owed and counts in the metrics."""
    conn, tenant_id = writer.conn, writer.tenant_id
    invoice = await get_invoice(conn, tenant_id, invoice_id, lock=True)
    if invoice["status"] != "DRAFT":
        raise BadUserInput("id", f"invoice {invoice['invoice_number']} is {invoice['status']}; "
                                 "only a DRAFT invoice can be posted", reason="not_draft")
    await conn.execute(
        text("UPDATE invoices SET status = 'POSTED', balance = amount, posted_at = "
             "CAST(:now AS timestamptz) WHERE tenant_id = :t AND id = :id"),
        {"t": tenant_id, "id": invoice_id, "now": clock.now()},
    )
    await outbox.record(writer, "INVOICE_POSTED", [invoice_id])
    await metrics.touched(writer, [invoice["account_id"]])


async def cancel_invoice(writer: Writer, invoice_id: uuid.UUID) -> None:
    """DRAFT or POSTED → CANCELED, only while nothing (net) is applied to it."""
    conn, tenant_id = writer.conn, writer.tenant_id
    # The row lock serializes with applications, which lock their targets too.
    invoice = await get_invoice(conn, tenant_id, invoice_id, lock=True)
    if invoice["status"] == "CANCELED":
        raise BadUserInput("id", f"invoice {invoice['invoice_number']} is already CANCELED",
                           reason="already_canceled")
    applied = (await conn.execute(
        text("SELECT coalesce(sum(amount), 0) FROM applications "
             "WHERE tenant_id = :t AND invoice_id = :id"),
        {"t": tenant_id, "id": invoice_id},
    )).scalar_one()
    if applied != 0:
        raise BadUserInput("id", f"invoice {invoice['invoice_number']} has {applied} applied; "
                                 "unapply the payments and credit memos first",
                           reason="has_applications")
    await conn.execute(
        text("UPDATE invoices SET status = 'CANCELED', "
             "balance = round(0, currency_minor_units(currency)) "
             "WHERE tenant_id = :t AND id = :id"),
        {"t": tenant_id, "id": invoice_id},
    )
    await outbox.record(writer, "INVOICE_CANCELED", [invoice_id])
    if invoice["status"] == "POSTED":
        await metrics.touched(writer, [invoice["account_id"]])


async def get_invoices(conn: AsyncConnection, tenant_id: uuid.UUID,
                       invoice_ids: list[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
    """Invoices by id, in one statement."""
    rows = await conn.execute(
        text("SELECT * FROM invoices WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))"),
        {"t": tenant_id, "ids": invoice_ids},
    )
    return {row["id"]: row for row in rows.mappings()}
