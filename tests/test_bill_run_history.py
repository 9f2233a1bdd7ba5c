"""The owner history a bill run reads (billing/facts.HISTORY): a subscription's lone owners
row that names its own invoice owner is left out — it changes no day's invoice owner —
and every other row is kept, so each day still bills the owner it billed before."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from billgraph.models import new_id
from billgraph.services import tenants
from billgraph.services.billing import facts

START, MOVED = date(2026, 1, 1), date(2026, 2, 15)


async def test_only_owner_rows_that_change_an_owner_are_read(engine: AsyncEngine) -> None:
    a, b, product, plan = new_id(), new_id(), new_id(), new_id()
    plain, lone_other, moved = new_id(), new_id(), new_id()
    async with engine.begin() as conn:
        t = await tenants.create_tenant(conn, f"history-{uuid.uuid4().hex[:8]}")
        scheme = (await conn.execute(text(
            "SELECT id FROM billing_term_schemes WHERE tenant_id = :t"), {"t": t})).scalar_one()
        for account, number in ((a, "A"), (b, "B")):
            await conn.execute(text(
                "INSERT INTO accounts (tenant_id, id, account_number, name, currency, "
                "bill_cycle_day, partner_account, status) VALUES (:t, :id, :n, :n, 'USD', 1, "
                "false, 'ACTIVE')"), {"t": t, "id": account, "n": number})
        await conn.execute(text("INSERT INTO products (tenant_id, id, code, name) "
                                "VALUES (:t, :id, 'SEAT', 'Seat')"), {"t": t, "id": product})
        await conn.execute(text("INSERT INTO price_plans (tenant_id, id, code, name, currency) "
                                "VALUES (:t, :id, 'PLAN', 'Plan', 'USD')"), {"t": t, "id": plan})
        # (subscription, its invoice owner now, its owners rows)
        subscriptions = ((plain, a, [(START, a)]),  # the usual: nothing to read
                         (lone_other, b, [(START, a)]),  # one row, another owner: kept
                         (moved, b, [(START, a), (MOVED, b)]))  # a transfer: both kept
        for n, (sub, owner, rows) in enumerate(subscriptions):
            await conn.execute(text(
                "INSERT INTO subscriptions (tenant_id, id, subscription_number, "
                "owner_account_id, invoice_owner_account_id, status, start_date, "
                "price_plan_id, scheme_id, billing_cycle_day, agreement_date, "
                "billing_frequency) VALUES (:t, :id, :n, :o, :o, 'ACTIVE', :d, :p, :s, 1, :d, "
                "'MONTHLY')"),
                {"t": t, "id": sub, "n": f"S{n}", "o": owner, "d": START, "p": plan,
                 "s": scheme})
            await conn.execute(text(
                "INSERT INTO subscription_items (tenant_id, id, subscription_id, product_id, "
                "charge_type, quantity, price, price_period, start_date, mrr) VALUES "
                "(:t, :id, :sub, :product, 'RECURRING', 1, 10.00, 'MONTHLY', :d, 10.00)"),
                {"t": t, "id": new_id(), "sub": sub, "product": product, "d": START})
            for day, invoice_owner in rows:
                await conn.execute(text(
                    "INSERT INTO subscription_owners (tenant_id, id, subscription_id, "
                    "effective_date, owner_account_id, invoice_owner_account_id) VALUES "
                    "(:t, :id, :sub, :d, :o, :o)"),
                    {"t": t, "id": new_id(), "sub": sub, "d": day, "o": invoice_owner})
    async with engine.connect() as conn:
        read = await facts.load_facts(conn, t, [a, b], date(2026, 3, 1))
    assert read.terms[plain].owners == ()
    assert read.terms[lone_other].owners == ((START, a),)
    assert read.terms[moved].owners == ((START, a), (MOVED, b))
    owner_on = {sub: [read.terms[sub].invoice_owner_on(day) for day in
                      (date(2025, 12, 31), START, date(2026, 2, 14), MOVED)]
                for sub, _, _ in subscriptions}
    assert owner_on == {plain: [a, a, a, a], lone_other: [b, a, a, a],
                        moved: [b, a, a, b]}
    assert len(read.items) == 3
