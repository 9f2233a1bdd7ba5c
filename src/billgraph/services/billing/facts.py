"""What a bill run reads: invoice owners, and the billing facts of a batch of them.

Everything is loaded set-based for a whole batch of invoice owners — their
subscriptions, items, the owners/suspension/usage history, and what the ledger says
was billed — in a few statements (`= ANY(...)`), never per item. The pure
computation (`charges.py`) then runs in Python.

Each statement reads one table by key (`id = ANY(array)`, or an index on the
referencing key), joined at most with the tiny scheme and plan tables: a bill run
often reads rows written moments before (a big order, the previous run's ledger)
whose statistics are not analyzed yet, and a single-table lookup by key has no join
order to get wrong.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw
from billgraph.services.billing import periods, pricing
from billgraph.services.billing.charges import Billed, ConcurrentUsage, Item, Terms
from billgraph.services.billing.metering import UsageDay

OWNERS = text("""
SELECT id, currency FROM accounts
WHERE tenant_id = :t
  AND (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid))
  AND id = ANY(coalesce(CAST(:only AS uuid[]), ARRAY(
      SELECT invoice_owner_account_id FROM subscriptions WHERE tenant_id = :t
      UNION
      SELECT invoice_owner_account_id FROM subscription_owners WHERE tenant_id = :t)))
ORDER BY id
""")

SUBSCRIPTIONS = """
SELECT s.id, s.subscription_number, s.invoice_owner_account_id, s.start_date,
       s.billing_cycle_day,
       s.billing_frequency, sch.type AS scheme_type, s.cu_concurrent_usage,
       s.cu_rate_percentage, s.cu_installed_items, s.cu_billing_method,
       pp.currency AS plan_currency, s.price_plan_id
FROM subscriptions s
JOIN billing_term_schemes sch ON sch.tenant_id = s.tenant_id AND sch.id = s.scheme_id
JOIN price_plans pp ON pp.tenant_id = s.tenant_id AND pp.id = s.price_plan_id
WHERE s.tenant_id = :t AND s.id = ANY(ARRAY(
    SELECT id FROM subscriptions
    WHERE tenant_id = :t AND invoice_owner_account_id = ANY(CAST(:owners AS uuid[]))
    UNION
    SELECT subscription_id FROM subscription_owners
    WHERE tenant_id = :t AND invoice_owner_account_id = ANY(CAST(:owners AS uuid[]))))
"""

ITEMS = """
SELECT id, subscription_id, product_id, charge_type, quantity, price, price_period,
       start_date, end_date
FROM subscription_items
WHERE tenant_id = :t AND subscription_id = ANY(CAST(:subs AS uuid[]))
  AND start_date <= :target AND charge_type IN ('RECURRING', 'ONE_TIME', 'USAGE')
"""

# The pricing of the items' charges: (plan, product) names one charge.
PLAN_CHARGES = """
SELECT price_plan_id, product_id, pricing_model, tiers, package_size, usage_aggregation
FROM plan_charges WHERE tenant_id = :t AND price_plan_id = ANY(CAST(:plans AS uuid[]))
"""

# The usage of USAGE items per UTC day: sum, largest, last by timestamp, count.
USAGE_DAYS = """
SELECT item_id, usage_date, sum(quantity) AS total, max(quantity) AS peak,
       (array_agg(quantity ORDER BY recorded_at DESC, record_id DESC))[1] AS last,
       count(*) AS records
FROM usage_records
WHERE tenant_id = :t AND item_id = ANY(CAST(:items AS uuid[]))
GROUP BY item_id, usage_date
ORDER BY item_id, usage_date
"""

PRODUCTS = ("SELECT id, code, name FROM products "
            "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))")

# Owner changes, suspensions and usage reports of the batch's subscriptions, in one trip.
# A subscription's only owners row naming its own invoice owner (`:sub_owners`, in the
# order of `:subs`) is left out: it changes no day's invoice owner (Terms.invoice_owner_on
# falls back to that owner), and it is what nearly every subscription has — 10,000 rows
# of a reseller's run that Python would decode and drop.
# Each subscription's rows are looked up by index from the array (LATERAL), whatever the
# plan's estimates: a generic plan estimates an unnest at 10 rows, and with a plain join
# of the array to the owners rows it chose a nested loop comparing every pair — 4,000,000
# comparisons, ~275 ms, for a batch of 2,000 subscriptions (auto_explain, issue 13).
HISTORY = """
SELECT 'owner' AS kind, o.subscription_id, o.day, NULL::date AS until, o.account_id,
       NULL::integer AS usage, o.created_at
FROM unnest(CAST(:subs AS uuid[]), CAST(CAST(:sub_owners AS text) AS uuid[])) AS s(id, owner)
CROSS JOIN LATERAL (
    SELECT subscription_id, effective_date AS day, invoice_owner_account_id AS account_id,
           created_at, count(*) OVER () AS changes
    FROM subscription_owners
    WHERE tenant_id = :t AND subscription_id = s.id) o
WHERE o.changes > 1 OR o.account_id <> s.owner
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
"""

LEDGER = """
SELECT item_id, period_start, invoice_id, sum(amount) AS amount, max(revision) AS revision
FROM billing_ledger
WHERE tenant_id = :t AND item_id = ANY(CAST(:items AS uuid[]))
GROUP BY item_id, period_start, invoice_id
"""

CANCELED = ("SELECT id FROM invoices WHERE tenant_id = :t "
            "AND id = ANY(CAST(:ids AS uuid[])) AND status = 'CANCELED'")


@dataclass
class Facts:
    """The billing facts of a batch of invoice owners."""

    terms: dict[uuid.UUID, Terms] = field(default_factory=dict)
    plan_currency: dict[uuid.UUID, str] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    billed: dict[uuid.UUID, dict[date, Billed]] = field(default_factory=dict)


async def load_custom_periods(conn: AsyncConnection,
                              tenant_id: uuid.UUID) -> periods.CustomPeriods:
    row = (await conn.execute(text("SELECT custom_periods FROM tenants WHERE id = :t"),
                              {"t": tenant_id})).one()
    return periods.custom_periods(row.custom_periods)


async def invoice_owners(conn: AsyncConnection, tenant_id: uuid.UUID, *,
                         only: Sequence[uuid.UUID] | None,
                         after: uuid.UUID | None) -> list[tuple[uuid.UUID, str]]:
    """(id, currency) of the accounts to bill, in id order, after `after`: `only` when
    given, else every account that is or was the invoice owner of a subscription."""
    rows = await conn.execute(OWNERS, {"t": tenant_id, "after": after,
                                       "only": list(only) if only is not None else None})
    return [(r.id, r.currency) for r in rows]


def terms_of(row: Any, history: History | None = None) -> Terms:
    """A subscription row (SUBSCRIPTIONS' columns, by name) and its history as ``Terms``."""
    concurrent = None
    if row["cu_billing_method"] is not None or row["cu_concurrent_usage"] is not None:
        concurrent = ConcurrentUsage(
            method=row["cu_billing_method"] or "BASED_ON_NUMBER_OF_INSTALLED_ITEMS",
            concurrent_usage=row["cu_concurrent_usage"] or 0,
            rate_percentage=row["cu_rate_percentage"],
            installed_items=row["cu_installed_items"])
    owners, suspensions, usage = history if history is not None else ((), (), ())
    return Terms(
        subscription_id=row["id"], subscription_number=row["subscription_number"],
        invoice_owner_id=row["invoice_owner_account_id"], cycle_day=row["billing_cycle_day"],
        billing_frequency=row["billing_frequency"], one_time=row["scheme_type"] == "ONE_TIME",
        start_date=row["start_date"],
        concurrent=concurrent,
        owners=tuple(owners), suspensions=tuple(suspensions), usage=tuple(usage))


# A subscription's history in HISTORY's order: (day, invoice owner) changes,
# (suspend, resume) suspensions, (day, concurrent usage) reports.
History = tuple[list[tuple[date, Any]], list[tuple[date, Any]], list[tuple[date, Any]]]
# HISTORY's kind -> (its list in History, the column paired with `day`)
_KINDS = {"owner": (0, "account_id"), "suspension": (1, "until"), "usage": (2, "usage")}


async def load_facts(conn: AsyncConnection, tenant_id: uuid.UUID,
                     owners: Sequence[uuid.UUID], target: date) -> Facts:
    """The subscriptions (with items starting by `target`) that any of `owners` is or
    was the invoice owner of, their history, and what was billed for their items.
    Items come in invoice order: subscription number, start, product code."""
    facts = Facts()
    subs = {r["id"]: r for r in await raw.fetch(
        conn, SUBSCRIPTIONS, {"t": tenant_id, "owners": list(owners)})}
    if not subs:
        return facts
    rows = await raw.fetch(conn, ITEMS, {"t": tenant_id, "subs": list(subs), "target": target})
    if not rows:
        return facts
    products = {p["id"]: p for p in await raw.fetch(
        conn, PRODUCTS, {"t": tenant_id, "ids": list({r["product_id"] for r in rows})})}
    usage_subs = [s for s, r in subs.items()
                  if r["cu_billing_method"] == "BASED_ON_ACTUAL_CAPACITY"]
    history: dict[uuid.UUID, History] = {}
    sub_owners = raw.array_text([r["invoice_owner_account_id"] for r in subs.values()],
                                repeated=True)
    for h in await raw.fetch(conn, HISTORY, {"t": tenant_id, "subs": list(subs),
                                             "sub_owners": sub_owners,
                                             "usage_subs": usage_subs}):
        slot, column = _KINDS[h["kind"]]
        sub_history = history.get(h["subscription_id"])
        if sub_history is None:
            sub_history = history[h["subscription_id"]] = ([], [], [])
        sub_history[slot].append((h["day"], h[column]))
    number: dict[uuid.UUID, str] = {}
    plan_of: dict[uuid.UUID, uuid.UUID] = {}
    for sub_id, row in subs.items():
        facts.terms[sub_id] = terms_of(row, history.get(sub_id))
        facts.plan_currency[sub_id] = row["plan_currency"]
        number[sub_id] = row["subscription_number"]
        plan_of[sub_id] = row["price_plan_id"]
    code = {product_id: p["code"] for product_id, p in products.items()}
    rows.sort(key=lambda r: (number[r["subscription_id"]], r["start_date"],
                             code[r["product_id"]], r["id"]))
    charges = await plan_charges(conn, tenant_id, set(plan_of.values()))
    usage = await usage_days(conn, tenant_id,
                             [r["id"] for r in rows if r["charge_type"] == "USAGE"])
    names = {product_id: p["name"] for product_id, p in products.items()}
    facts.items = [
        item_of(r, names[r["product_id"]],
                charges.get((plan_of[r["subscription_id"]], r["product_id"])),
                usage.get(r["id"], ()))
        for r in rows]
    entries = await raw.fetch(conn, LEDGER, {"t": tenant_id,
                                             "items": [i.id for i in facts.items]})
    canceled = {r["id"] for r in await raw.fetch(conn, CANCELED, {
        "t": tenant_id, "ids": list({e["invoice_id"] for e in entries})})}
    billed: dict[tuple[uuid.UUID, date], tuple[Decimal, int]] = {}
    for e in entries:
        key = (e["item_id"], e["period_start"])
        amount, revision = billed.get(key, (Decimal(0), 0))
        if e["invoice_id"] not in canceled:
            amount += e["amount"]
        billed[key] = (amount, max(revision, e["revision"]))
    for (item_id, period_start), (amount, revision) in billed.items():
        facts.billed.setdefault(item_id, {})[period_start] = Billed(amount, revision)
    return facts


async def plan_charges(conn: AsyncConnection, tenant_id: uuid.UUID,
                       plans: set[uuid.UUID]) -> dict[tuple[uuid.UUID, uuid.UUID], Any]:
    """The plan charges of ``plans`` by (plan, product)."""
    return {(c["price_plan_id"], c["product_id"]): c for c in await raw.fetch(
        conn, PLAN_CHARGES, {"t": tenant_id, "plans": list(plans)})}


async def usage_days(conn: AsyncConnection, tenant_id: uuid.UUID,
                     items: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[UsageDay, ...]]:
    """The usage of ``items`` per UTC day, ascending (one statement)."""
    if not items:
        return {}
    days: dict[uuid.UUID, list[UsageDay]] = defaultdict(list)
    for u in await raw.fetch(conn, USAGE_DAYS, {"t": tenant_id, "items": list(items)}):
        days[u["item_id"]].append(UsageDay(u["usage_date"], u["total"], u["peak"], u["last"],
                                           u["records"]))
    return {item_id: tuple(d) for item_id, d in days.items()}


def item_of(row: Any, product_name: str, charge: Any | None,
            usage: tuple[UsageDay, ...]) -> Item:
    """A subscription_items row (by column name) as the pure charges see it, with its
    charge's pricing (the item's price) and, for USAGE items, its usage per day."""
    return Item(
        id=row["id"], subscription_id=row["subscription_id"], product_id=row["product_id"],
        product_name=product_name, charge_type=row["charge_type"], quantity=row["quantity"],
        price=row["price"], price_period=row["price_period"], start_date=row["start_date"],
        end_date=row["end_date"],
        pricing=None if charge is None else pricing.stored(
            charge["pricing_model"], row["price"], charge["tiers"], charge["package_size"]),
        aggregation=(charge["usage_aggregation"] if charge is not None else None) or "SUM",
        usage=usage)
