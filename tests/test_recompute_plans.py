"""A batch of metrics recomputes is not planned generically (services/metrics.recompute):
on the server's connections, which force generic plans, the transaction of a recompute
of CUSTOM_PLAN_BATCH accounts or more plans for the values from then on, and only that
transaction does; a write's one or two accounts keep the generic plan (planning costs
more than the recompute)."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from billgraph.db.engine import make_engine, plans_generically
from billgraph.models import new_id
from billgraph.services import metrics, tenants

SETTING = text("SELECT current_setting('plan_cache_mode')")


async def test_a_batch_recompute_is_planned_for_its_accounts(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, generic_plans=True)
    accounts = [new_id() for _ in range(metrics.CUSTOM_PLAN_BATCH)]
    try:
        async with engine.begin() as conn:
            tenant = await tenants.create_tenant(conn, f"plans-{uuid.uuid4().hex[:8]}")
            for n, account in enumerate(accounts):
                await conn.execute(text(
                    "INSERT INTO accounts (tenant_id, id, account_number, name, currency, "
                    "bill_cycle_day, partner_account, status) VALUES (:t, :id, :n, 'A', "
                    "'USD', 1, false, 'ACTIVE')"), {"t": tenant, "id": account, "n": f"A{n}"})
                await metrics.create_row(conn, tenant, account, "USD")
        async with engine.begin() as conn:
            if not plans_generically(conn):  # a Citus coordinator plans every statement
                assert (await conn.execute(SETTING)).scalar_one() != "force_generic_plan"
                return
            # a write's own accounts: still generic
            [row] = await metrics.recompute(conn, tenant, accounts[:1])
            assert row["account_id"] == accounts[0] and row["balance"] == 0
            assert (await conn.execute(SETTING)).scalar_one() == "force_generic_plan"
            # a batch: planned for its values from here on
            rows = await metrics.recompute(conn, tenant, accounts)
            assert sorted(r["account_id"] for r in rows) == sorted(accounts)
            assert (await conn.execute(SETTING)).scalar_one() == "force_custom_plan"
        async with engine.connect() as conn:  # the next transaction plans generically again
            assert (await conn.execute(SETTING)).scalar_one() == "force_generic_plan"
    finally:
        await engine.dispose()
