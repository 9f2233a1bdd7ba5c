"""What discounts and taxes read for a batch of invoice owners: set-based, a few
statements per batch (never per item), beside facts.py."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db import raw
from billgraph.services.billing import adjustments as adj
from billgraph.services.billing.adjusted import AdjustmentFacts, BilledAdjustment
from billgraph.services.billing.facts import Facts

DISCOUNTS = text("""
SELECT sd.subscription_id, sd.start_date, sd.end_date, d.type, d.percentage, d.amount,
       d.product_codes
FROM subscription_discounts sd
JOIN discounts d ON d.tenant_id = sd.tenant_id AND d.id = sd.discount_id
WHERE sd.tenant_id = :t AND sd.subscription_id = ANY(CAST(:subs AS uuid[]))
ORDER BY sd.start_date, sd.id
""")

RATES = text("SELECT id, percentage, country, region, product_codes, active FROM tax_rates "
             "WHERE tenant_id = :t AND active ORDER BY code")

OWNERS = text("SELECT id, billing_country, billing_region, tax_exempt FROM accounts "
              "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))")

PRODUCT_CODES = text("SELECT id, code FROM products "
                     "WHERE tenant_id = :t AND id = ANY(CAST(:ids AS uuid[]))")

NOT_CANCELED = """NOT EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id = l.tenant_id
                  AND i.id = l.invoice_id AND i.status = 'CANCELED')"""

BILLED = text(f"""
SELECT l.item_id, l.period_start, sum(l.amount) AS amount,
       sum(l.discount_amount) AS discount
FROM billing_ledger l
WHERE l.tenant_id = :t AND l.item_id = ANY(CAST(:items AS uuid[])) AND {NOT_CANCELED}
GROUP BY l.item_id, l.period_start
""")

BILLED_TAXES = text(f"""
SELECT l.item_id, l.period_start, x.tax_rate_id, max(x.percentage) AS percentage,
       sum(x.amount) AS amount
FROM billing_ledger l
JOIN invoice_line_taxes x ON x.tenant_id = l.tenant_id AND x.invoice_line_id = l.invoice_line_id
WHERE l.tenant_id = :t AND l.item_id = ANY(CAST(:items AS uuid[])) AND {NOT_CANCELED}
GROUP BY l.item_id, l.period_start, x.tax_rate_id
""")


def tax_rate(row: object) -> adj.TaxRate:
    return adj.TaxRate(
        id=row.id, percentage=row.percentage, country=row.country,  # type: ignore[attr-defined]
        region=row.region, product_codes=frozenset(row.product_codes),  # type: ignore[attr-defined]
        active=row.active)  # type: ignore[attr-defined]


async def load_rates(conn: AsyncConnection, tenant_id: uuid.UUID) -> list[adj.TaxRate]:
    return [tax_rate(r) for r in await conn.execute(RATES, {"t": tenant_id})]


async def load_profiles(conn: AsyncConnection, tenant_id: uuid.UUID,
                        owners: Sequence[uuid.UUID]) -> dict[uuid.UUID, adj.TaxProfile]:
    return {r.id: adj.TaxProfile(r.billing_country, r.billing_region, r.tax_exempt)
            for r in await conn.execute(OWNERS, {"t": tenant_id, "ids": list(owners)})}


async def load_adjustment_facts(conn: AsyncConnection, tenant_id: uuid.UUID,
                                owners: Sequence[uuid.UUID], facts: Facts) -> AdjustmentFacts:
    """The discounts of the facts' subscriptions, the tenant's active tax rates, the
    owners' tax profiles, product codes and what was billed (discount, tax per rate)."""
    out = AdjustmentFacts()
    if not facts.items:
        return out
    for d in await conn.execute(DISCOUNTS, {"t": tenant_id, "subs": list(facts.terms)}):
        value = d.percentage if d.type == adj.DiscountType.PERCENTAGE else d.amount
        out.discounts.setdefault(d.subscription_id, []).append(adj.SubscriptionDiscount(
            adj.DiscountType(d.type), value, d.start_date, d.end_date,
            frozenset(d.product_codes)))
    out.rates = await load_rates(conn, tenant_id)
    out.owners = await load_profiles(conn, tenant_id, owners)
    out.product_codes = {r.id: r.code for r in await conn.execute(
        PRODUCT_CODES, {"t": tenant_id, "ids": list({i.product_id for i in facts.items})})}
    out.item_subscription = {i.id: i.subscription_id for i in facts.items}
    # Only an item with a ledger entry (facts.billed has them all, canceled or not) can
    # have had a discount or tax billed: a first bill run of its items reads nothing more.
    ledgered = [i.id for i in facts.items if i.id in facts.billed]
    if not ledgered:
        return out
    items = {"t": tenant_id, "items": ledgered}
    taxes: dict[tuple[uuid.UUID, date], dict[uuid.UUID, tuple[Decimal, Decimal]]] = {}
    for x in await raw.fetch(conn, BILLED_TAXES.text, items):
        taxes.setdefault((x["item_id"], x["period_start"]), {})[x["tax_rate_id"]] = (
            x["percentage"], x["amount"])
    no_taxes: dict[uuid.UUID, tuple[Decimal, Decimal]] = {}
    for b in await raw.fetch(conn, BILLED.text, items):  # a row per item and period billed
        key = (b["item_id"], b["period_start"])
        out.billed[key] = BilledAdjustment(b["amount"], b["discount"], taxes.get(key, no_taxes))
    return out
