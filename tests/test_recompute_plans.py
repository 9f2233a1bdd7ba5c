"""A metrics recompute is not planned generically (services/metrics.recompute): on the
server's connections, which force generic plans, its transaction plans for the values
before the recompute, and only that transaction does."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from billgraph.db.engine import make_engine, plans_generically
from billgraph.models import new_id
from billgraph.services import metrics, tenants


async def test_a_recompute_is_planned_for_its_accounts(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=1, generic_plans=True)
    setting = text("SELECT current_setting('plan_cache_mode')")
    try:
        async with engine.begin() as conn:
            tenant = await tenants.create_tenant(conn, f"plans-{uuid.uuid4().hex[:8]}")
            account = new_id()
            await conn.execute(text(
                "INSERT INTO accounts (tenant_id, id, account_number, name, currency, "
                "bill_cycle_day, partner_account, status) VALUES (:t, :id, 'A1', 'A', 'USD', "
                "1, false, 'ACTIVE')"), {"t": tenant, "id": account})
            await metrics.create_row(conn, tenant, account, "USD")
        async with engine.begin() as conn:
            if not plans_generically(conn):  # a Citus coordinator plans every statement
                assert (await conn.execute(setting)).scalar_one() != "force_generic_plan"
                return
            assert (await conn.execute(setting)).scalar_one() == "force_generic_plan"
            [row] = await metrics.recompute(conn, tenant, [account])
            assert row["account_id"] == account and row["balance"] == 0
            assert (await conn.execute(setting)).scalar_one() == "force_custom_plan"
        async with engine.connect() as conn:  # the next transaction plans generically again
            assert (await conn.execute(setting)).scalar_one() == "force_generic_plan"
    finally:
        await engine.dispose()
