"""Order preview (SPEC §13): what createOrder with the same input would do, undone.

The order is placed by createOrder's own code (`place_order`: the same checks, so the
same errors, and the same rows) inside a transaction that is always rolled back
(`db.tx.rolled_back`), with its numbers read from the sequences without taking them
(nextval is never rolled back). Inside that transaction, before the rollback: the
subscriptions as written, each touched account's contractedMrr (the metrics' own sum,
`metrics.contracted_mrr`) and, with a target date, the billing preview of the accounts
the order concerns (those it touches and its subscriptions' invoice owners) — the bill
run's code on the uncommitted rows. The savepoint around the order is then rolled back and
the same sums read again: the MRR before. No events, outbox rows or audit records: the
order's outbox record and metrics recompute are createOrder's, not place_order's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import text

from billgraph.db.tx import Writer
from billgraph.services import metrics
from billgraph.services.billing.bill_runs import check_target_date
from billgraph.services.billing.preview import PreviewInput, PreviewInvoice, billing_preview
from billgraph.services.subscriptions import subscription_mrr

from . import OrderInput, place_order


@dataclass(frozen=True)
class SubscriptionPreview:
    id: uuid.UUID
    subscription_number: str | None  # None: a number the order would generate
    owner_account_id: uuid.UUID
    invoice_owner_account_id: uuid.UUID
    status: str
    mrr: Decimal
    new: bool


@dataclass(frozen=True)
class MrrChange:
    account_id: uuid.UUID
    before: Decimal
    after: Decimal


@dataclass(frozen=True)
class OrderPreview:
    subscriptions: list[SubscriptionPreview]
    contracted_mrr: list[MrrChange]
    invoices: list[PreviewInvoice]
    created: frozenset[uuid.UUID]  # ids of the subscriptions only the preview has
    generated: frozenset[str]  # numbers it generated (shown as null: not promised)


SUBSCRIPTIONS = text("""
SELECT s.*, pp.currency FROM subscriptions s
JOIN price_plans pp ON pp.tenant_id = s.tenant_id AND pp.id = s.price_plan_id
WHERE s.tenant_id = :t AND s.id = ANY(CAST(:ids AS uuid[]))""")
ITEMS = text("""
SELECT subscription_id, charge_type, end_date, mrr FROM subscription_items
WHERE tenant_id = :t AND subscription_id = ANY(CAST(:ids AS uuid[]))""")


async def preview_order(writer: Writer, order: OrderInput,
                        target_date: date | None) -> OrderPreview:
    """Run inside `db.tx.rolled_back`: its writes are never committed."""
    if target_date is not None:
        check_target_date(target_date)
    conn, tenant_id = writer.conn, writer.tenant_id
    savepoint = await conn.begin_nested()
    placed = await place_order(writer, order, consume_numbers=False)
    subs = placed.applied.subs
    generated = frozenset(s.number for s in subs if s.id in placed.generated and s.number)
    ids = [s.id for s in subs]
    rows = {r["id"]: r for r in (await conn.execute(
        SUBSCRIPTIONS, {"t": tenant_id, "ids": ids})).mappings()}
    items: dict[uuid.UUID, list[object]] = {i: [] for i in ids}
    for item in (await conn.execute(ITEMS, {"t": tenant_id, "ids": ids})).mappings():
        items[item["subscription_id"]].append(item)
    previews = [SubscriptionPreview(
        id=s.id, subscription_number=None if s.number in generated else s.number,
        owner_account_id=rows[s.id]["owner_account_id"],
        invoice_owner_account_id=rows[s.id]["invoice_owner_account_id"],
        status=rows[s.id]["status"], new=s.new,
        mrr=subscription_mrr(rows[s.id], items[s.id], rows[s.id]["currency"]),  # type: ignore[arg-type]
    ) for s in subs]
    accounts = sorted(placed.touched)
    after = await metrics.contracted_mrr(conn, tenant_id, accounts)
    # the invoices of the accounts the order concerns (not the whole tenant's): every
    # account it touches and every invoice owner of its subscriptions
    payers = sorted(placed.touched | {r["invoice_owner_account_id"] for r in rows.values()})
    invoices = (await billing_preview(conn, tenant_id, PreviewInput(
        target_date, account_ids=payers)) if target_date is not None else [])
    await savepoint.rollback()
    before = await metrics.contracted_mrr(conn, tenant_id, accounts)
    return OrderPreview(
        subscriptions=previews,
        contracted_mrr=[MrrChange(a, before[a], after[a]) for a in accounts if a in after],
        invoices=invoices,
        created=frozenset(s.id for s in subs if s.new), generated=generated)

