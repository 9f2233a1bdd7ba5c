"""Billing preview (SPEC §13): what a bill run with the same input would invoice now.

It bills through the bill run's own code — `invoicing.lines_on` computes each invoice
owner's lines (charges, pricing models, usage, discounts, taxes, the self-correcting
differences) and `invoicing.invoice_sums` its totals — on the caller's connection, and
stops where the run would write. The caller runs it in a READ ONLY transaction
(`db.tx.read_only`), so nothing can be written: no invoice, ledger entry, number or
event. An order preview runs it inside its own uncommitted transaction instead, so the
order's rows are billed too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.services.billing import facts as billing_facts
from billgraph.services.billing.adjusted import Line
from billgraph.services.billing.bill_runs import BATCH, accounts_to_bill, check_target_date
from billgraph.services.billing.invoicing import InvoiceSums, invoice_sums, lines_on
from billgraph.services.errors import BadUserInput

MAX_OWNERS = 1_000  # invoice owners per preview


@dataclass(frozen=True)
class PreviewInput:
    target_date: date
    invoice_date: date | None = None
    account_ids: list[uuid.UUID] | None = None


@dataclass(frozen=True)
class PreviewLine:
    line: Line
    subscription_number: str


@dataclass(frozen=True)
class PreviewInvoice:
    """The invoice a bill run would write for one invoice owner, unwritten."""

    account_id: uuid.UUID
    invoice_date: date
    currency: str
    sums: InvoiceSums
    lines: list[PreviewLine]


NUMBERS = text("""
SELECT id, subscription_number FROM subscriptions
WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))""")


async def billing_preview(conn: AsyncConnection, tenant_id: uuid.UUID,
                          data: PreviewInput) -> list[PreviewInvoice]:
    """The invoices (in invoice-owner order, as the run bills them) that a bill run with
    `data` would create now; reads only. BAD_USER_INPUT / NOT_FOUND as billRun's."""
    check_target_date(data.target_date)
    if data.account_ids is not None and len(data.account_ids) > MAX_OWNERS:
        raise BadUserInput("accountIds", f"at most {MAX_OWNERS} accounts per preview "
                                         f"(this one names {len(data.account_ids)})")
    only = await accounts_to_bill(conn, tenant_id, data.account_ids)
    custom = await billing_facts.load_custom_periods(conn, tenant_id)
    owners = await billing_facts.invoice_owners(conn, tenant_id, only=only, after=None)
    if len(owners) > MAX_OWNERS:
        raise BadUserInput("accountIds", f"the tenant has {len(owners)} invoice owners; a "
                           f"preview covers at most {MAX_OWNERS}: name them in accountIds")
    invoice_date = data.invoice_date or data.target_date
    out: list[PreviewInvoice] = []
    for start in range(0, len(owners), BATCH):
        batch = owners[start:start + BATCH]
        by_owner, _ = await lines_on(conn, tenant_id, batch, target=data.target_date,
                                     custom=custom)
        numbers = await _numbers(conn, tenant_id, [ln.charge.subscription_id
                                                   for lines in by_owner.values()
                                                   for ln in lines])
        for owner, currency in batch:
            lines = by_owner.get(owner)
            if lines:  # as the run: an owner with nothing (new) to bill gets no invoice
                out.append(PreviewInvoice(
                    owner, invoice_date, currency, invoice_sums(lines, currency),
                    [PreviewLine(ln, numbers[ln.charge.subscription_id]) for ln in lines]))
    return out


async def _numbers(conn: AsyncConnection, tenant_id: uuid.UUID,
                   ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await conn.execute(NUMBERS, {"t": tenant_id, "ids": sorted(set(ids))})
    return {r.id: r.subscription_number for r in rows}
