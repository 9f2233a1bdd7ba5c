"""What a bill run reads: invoice owners, and the billing facts of a batch of them.

Everything is loaded set-based for a whole batch of invoice owners — their
subscriptions with items, the owners/suspension/usage history, and what the ledger
says was billed — in three statements (`= ANY(...)`), never per item. The pure
computation (`charges.py`) then runs in Python.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.services.billing import periods
from billgraph.services.billing.charges import Billed, ConcurrentUsage, Item, Terms

OWNERS = text("""
SELECT a.id, a.currency FROM accounts a
WHERE a.tenant_id = :t
  AND (CAST(:after AS uuid) IS NULL OR a.id > CAST(:after AS uuid))
  AND CASE WHEN CAST(:only AS uuid[]) IS NOT NULL THEN a.id = ANY(CAST(:only AS uuid[]))
      ELSE EXISTS (SELECT 1 FROM subscriptions s WHERE s.tenant_id = a.tenant_id
                   AND s.invoice_owner_account_id = a.id)
        OR EXISTS (SELECT 1 FROM subscription_owners o WHERE o.tenant_id = a.tenant_id
                   AND o.invoice_owner_account_id = a.id) END
ORDER BY a.id
""")

ITEMS = text("""
WITH subs AS (
    SELECT id FROM subscriptions
    WHERE tenant_id = :t AND invoice_owner_account_id = ANY(CAST(:owners AS uuid[]))
    UNION
    SELECT subscription_id FROM subscription_owners
    WHERE tenant_id = :t AND invoice_owner_account_id = ANY(CAST(:owners AS uuid[])))
SELECT s.id AS subscription_id, s.subscription_number, s.invoice_owner_account_id,
       s.billing_cycle_day, s.billing_frequency, sch.type AS scheme_type,
       s.cu_concurrent_usage, s.cu_rate_percentage, s.cu_installed_items, s.cu_billing_method,
       pp.currency AS plan_currency,
       i.id AS item_id, i.product_id, p.name AS product_name, i.charge_type, i.quantity,
       i.price, i.price_period, i.start_date, i.end_date
FROM subs
JOIN subscriptions s ON s.tenant_id = :t AND s.id = subs.id
JOIN billing_term_schemes sch ON sch.tenant_id = :t AND sch.id = s.scheme_id
JOIN price_plans pp ON pp.tenant_id = :t AND pp.id = s.price_plan_id
JOIN subscription_items i ON i.tenant_id = :t AND i.subscription_id = s.id
JOIN products p ON p.tenant_id = :t AND p.id = i.product_id
WHERE i.start_date <= :target AND i.charge_type IN ('RECURRING', 'ONE_TIME')
ORDER BY s.subscription_number, i.start_date, p.code, i.id
""")

# Owner changes, suspensions and usage reports of the batch's subscriptions, in one trip.
HISTORY = text("""
SELECT 'owner' AS kind, subscription_id, effective_date AS day, NULL::date AS until,
       invoice_owner_account_id AS account_id, NULL::integer AS usage, created_at
FROM subscription_owners
WHERE tenant_id = :t AND subscription_id = ANY(CAST(:subs AS uuid[]))
UNION ALL
SELECT 'suspension', subscription_id, suspend_date, resume_date, NULL, NULL, NULL
FROM subscription_suspensions
WHERE tenant_id = :t AND subscription_id = ANY(CAST(:subs AS uuid[]))
UNION ALL
SELECT 'usage', subscription_id, usage_date, NULL, NULL, max(concurrent_usage), NULL
FROM concurrent_usage_reports
WHERE tenant_id = :t AND subscription_id = ANY(CAST(:usage_subs AS uuid[]))
GROUP BY subscription_id, usage_date
ORDER BY day, created_at
""")

# What was billed per (item, period): canceled invoices do not count (their periods are
# billed again), but their revisions do (the next entry must still be a new key).
LEDGER = text("""
SELECT l.item_id, l.period_start, max(l.revision) AS revision,
       coalesce(sum(l.amount) FILTER (WHERE inv.status <> 'CANCELED'), 0) AS amount
FROM billing_ledger l
JOIN invoice_lines il ON il.tenant_id = l.tenant_id AND il.id = l.invoice_line_id
JOIN invoices inv ON inv.tenant_id = il.tenant_id AND inv.id = il.invoice_id
WHERE l.tenant_id = :t AND l.item_id = ANY(CAST(:items AS uuid[]))
GROUP BY l.item_id, l.period_start
""")


@dataclass
class Facts:
    """The billing facts of a batch of invoice owners."""

    terms: dict[uuid.UUID, Terms] = field(default_factory=dict)
    plan_currency: dict[uuid.UUID, str] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    billed: dict[uuid.UUID, dict[date, Billed]] = field(default_factory=dict)


def custom_periods(definitions: Sequence[dict[str, Any]] | None) -> periods.CustomPeriods:
    """The tenant's CUSTOM1..CUSTOM5 (tenants.custom_periods) as period lengths."""
    return {d["name"]: periods.PeriodLength(periods.PeriodUnit(d["unit"]), int(d["count"]))
            for d in definitions or []}


async def load_custom_periods(conn: AsyncConnection,
                              tenant_id: uuid.UUID) -> periods.CustomPeriods:
    row = (await conn.execute(text("SELECT custom_periods FROM tenants WHERE id = :t"),
                              {"t": tenant_id})).one()
    return custom_periods(row.custom_periods)


async def invoice_owners(conn: AsyncConnection, tenant_id: uuid.UUID, *,
                         only: Sequence[uuid.UUID] | None,
                         after: uuid.UUID | None) -> list[tuple[uuid.UUID, str]]:
    """(id, currency) of the accounts to bill, in id order, after `after`: `only` when
    given, else every account that is or was the invoice owner of a subscription."""
    rows = await conn.execute(OWNERS, {"t": tenant_id, "after": after,
                                       "only": list(only) if only is not None else None})
    return [(r.id, r.currency) for r in rows]


def _terms(row: Any, history: dict[str, list[Any]]) -> Terms:
    concurrent = None
    if row.cu_billing_method is not None or row.cu_concurrent_usage is not None:
        concurrent = ConcurrentUsage(
            method=row.cu_billing_method or "BASED_ON_NUMBER_OF_INSTALLED_ITEMS",
            concurrent_usage=row.cu_concurrent_usage or 0,
            rate_percentage=row.cu_rate_percentage, installed_items=row.cu_installed_items)
    return Terms(
        subscription_id=row.subscription_id, subscription_number=row.subscription_number,
        invoice_owner_id=row.invoice_owner_account_id, cycle_day=row.billing_cycle_day,
        billing_frequency=row.billing_frequency, one_time=row.scheme_type == "ONE_TIME",
        concurrent=concurrent,
        owners=tuple((h.day, h.account_id) for h in history["owner"]),
        suspensions=tuple((h.day, h.until) for h in history["suspension"]),
        usage=tuple((h.day, h.usage) for h in history["usage"]))


async def load_facts(conn: AsyncConnection, tenant_id: uuid.UUID,
                     owners: Sequence[uuid.UUID], target: date) -> Facts:
    """The subscriptions (with items starting by `target`) that any of `owners` is or
    was the invoice owner of, their history, and what was billed for their items."""
    facts = Facts()
    rows = list(await conn.execute(ITEMS, {"t": tenant_id, "owners": list(owners),
                                           "target": target}))
    if not rows:
        return facts
    subs = {r.subscription_id: r for r in rows}
    usage_subs = [s for s, r in subs.items()
                  if r.cu_billing_method == "BASED_ON_ACTUAL_CAPACITY"]
    history: dict[uuid.UUID, dict[str, list[Any]]] = defaultdict(
        lambda: {"owner": [], "suspension": [], "usage": []})
    for h in await conn.execute(HISTORY, {"t": tenant_id, "subs": list(subs),
                                          "usage_subs": usage_subs}):
        history[h.subscription_id][h.kind].append(h)
    for sub_id, row in subs.items():
        facts.terms[sub_id] = _terms(row, history[sub_id])
        facts.plan_currency[sub_id] = row.plan_currency
    facts.items = [
        Item(id=r.item_id, subscription_id=r.subscription_id, product_id=r.product_id,
             product_name=r.product_name, charge_type=r.charge_type, quantity=r.quantity,
             price=r.price, price_period=r.price_period, start_date=r.start_date,
             end_date=r.end_date)
        for r in rows]
    for entry in await conn.execute(LEDGER, {"t": tenant_id,
                                             "items": [i.id for i in facts.items]}):
        facts.billed.setdefault(entry.item_id, {})[entry.period_start] = Billed(
            entry.amount, entry.revision)
    return facts
