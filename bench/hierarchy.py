"""Account hierarchies (issue 19): the roll-up of a distributor over 50 resellers × 200
end users (10,051 accounts, each with a posted invoice and a subscription of two items,
created set-based), and createOrder on end users of one reseller vs the same load on
accounts outside any hierarchy.

(a) refreshHierarchyMetrics of the distributor through the API, and (b) the roll-up
    statement alone (services.rollups.ROLL_UP). Target ≤ 1 s. Ceiling: the least any
    roll-up must read — one aggregate over the members' stored metrics.
(c) 32 clients ordering, each for its own end user of reseller 0 (the tenant's default
    interval: the write path alone); (d) the same while the roll-up refresher runs on a
    1-second tenant interval (the hierarchy is re-rolled during the load). Baseline: the
    same 32 clients on 32 accounts without a parent (another tenant, the same
    documents), measured in the same run, interleaved (c, F, d, F, c, F, d, F).
    Target: (c) ≥ 0.9 × baseline; (d) 0 errors, its ratio shown.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from decimal import Decimal

from billgraph.db.engine import make_engine
from billgraph.services import metrics, rollups

from .harness import (
    FLEET_CTES,
    Bench,
    Client,
    Load,
    Row,
    closed_loop,
    fleet_catalog,
    refresh_rows,
)
from .orders import CLIENTS, CREATE_ORDER, order_input

REFRESH = """mutation($id: ID!) { refreshHierarchyMetrics(accountId: $id) {
  currency accountCount balance contractedMrr stale } }"""

# `count` accounts under each of `parents` (NULL: no parent), each with one posted invoice
# of 10.00 + (n mod 7) and one subscription of plan FLEET with TRACKER and SUPPORT (MRR
# 12.00 + 60.00 / 3 = 32.00); setup written with SQL, not what is measured.
SEED = """
WITH new AS MATERIALIZED (
    SELECT gen_random_uuid() AS id, p.parent_id, row_number() OVER () AS n
    FROM unnest($2::uuid[]) AS p(parent_id), generate_series(1, $3)),
""" + FLEET_CTES.format(products="pr.code IN ('TRACKER', 'SUPPORT')") + """,
acc AS (
    INSERT INTO accounts (tenant_id, id, account_number, name, currency, bill_cycle_day,
                          partner_account, status, parent_account_id)
    SELECT $1, id, $4 || n, $4 || n, 'USD', 1, false, 'ACTIVE', parent_id FROM new),
met AS (
    INSERT INTO account_metrics (tenant_id, account_id, currency, balance, credit_balance,
        total_invoice_balance, total_debit_memo_balance, unapplied_credit_memo_amount,
        unapplied_payment_amount, contracted_mrr, last_metrics_update)
    SELECT $1, id, 'USD', 0, 0, 0, 0, 0, 0, 0, clock_timestamp() FROM new),
inv AS (
    INSERT INTO invoices (tenant_id, id, invoice_number, account_id, invoice_date, due_date,
                          status, amount, balance, currency)
    SELECT $1, gen_random_uuid(), 'INV-' || $4 || n, id, DATE '2026-11-01', DATE '2026-11-30',
           'POSTED', 10 + n % 7, 10 + n % 7, 'USD' FROM new),
sub AS (
    INSERT INTO subscriptions (tenant_id, id, subscription_number, owner_account_id,
        invoice_owner_account_id, status, start_date, price_plan_id, scheme_id,
        billing_cycle_day, agreement_date, billing_frequency)
    SELECT $1, gen_random_uuid(), 'S-' || $4 || n, id, id, 'ACTIVE', DATE '2026-01-01',
           plan.plan_id, plan.scheme_id, 1, DATE '2026-01-01', 'MONTHLY'
    FROM new, plan
    RETURNING id, owner_account_id),
own AS (
    INSERT INTO subscription_owners (tenant_id, id, subscription_id, effective_date,
                                     owner_account_id, invoice_owner_account_id)
    SELECT $1, gen_random_uuid(), id, DATE '2026-01-01', owner_account_id, owner_account_id
    FROM sub),
items AS (
    INSERT INTO subscription_items (tenant_id, id, subscription_id, product_id, charge_type,
                                    quantity, price, price_period, start_date, mrr)
    SELECT $1, gen_random_uuid(), sub.id, c.product_id, 'RECURRING', 1, c.price,
           c.price_period, DATE '2026-01-01', c.mrr
    FROM sub, charges c)
SELECT id FROM new ORDER BY n
"""
BARE = ("SELECT currency, count(*), sum(balance), sum(contracted_mrr) FROM account_metrics "
        "WHERE tenant_id = $1 GROUP BY currency")
# the expected roll-up, straight from the documents (independent of any recompute)
EXPECTED = """SELECT (SELECT sum(balance) FROM invoices WHERE tenant_id = $1 AND status = 'POSTED')
    AS balance, (SELECT count(*) FROM accounts WHERE tenant_id = $1) AS accounts,
    (SELECT count(*) FROM subscriptions WHERE tenant_id = $1) AS subscriptions"""


async def seed(bench: Bench, tenant_id: uuid.UUID, parents: list[uuid.UUID | None],
               count: int, prefix: str) -> list[uuid.UUID]:
    rows = await bench.sql(SEED, tenant_id, parents, count, prefix)
    return [r["id"] for r in rows]


async def watch(bench: Bench, tenant_id: uuid.UUID, root: uuid.UUID,
                seen: set[object]) -> None:
    """Collect the root's roll-up times until cancelled (how often the refresher ran)."""
    while True:
        for row in await bench.sql("SELECT last_metrics_update FROM hierarchy_metrics "
                                   "WHERE tenant_id = $1 AND account_id = $2", tenant_id, root):
            seen.add(row["last_metrics_update"])
        await asyncio.sleep(0.2)


async def caught_up(client: Client, root: uuid.UUID, timeout: float = 30) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        rows = (await client.gql("query($id: ID!) { account(id: $id) { hierarchyMetrics "
                                 "{ stale } } }", {"id": str(root)}))["account"]
        if not any(r["stale"] for r in rows["hierarchyMetrics"]):
            return
        await asyncio.sleep(0.2)


async def order_load(client: Client, owners: list[uuid.UUID], seconds: float) -> Load:
    async def request(c: int, n: int) -> str | None:
        owner = str(owners[c % len(owners)])
        return await client.attempt(CREATE_ORDER, order_input(owner, owner, owner), lane=c)

    return await closed_loop(CLIENTS, seconds, None, request)


async def run(bench: Bench) -> None:
    quick = bench.quick
    resellers, per_reseller = (5, 20) if quick else (50, 200)
    reps, seconds = (3, 1.5) if quick else (5, 6.0)
    total = 1 + resellers + resellers * per_reseller
    print(f"hierarchy: a distributor over {resellers} resellers × {per_reseller} end users "
          f"({total:,} accounts); createOrder {CLIENTS} clients, 8 × {seconds:.0f} s",
          flush=True)
    tenant_id, client = await bench.tenant("hierarchy")
    flat_tenant, flat = await bench.tenant("flat")
    report = bench.report
    try:
        for c in (client, flat):
            await fleet_catalog(c)
        [distributor] = await seed(bench, tenant_id, [None], 1, "D")
        reseller_ids = await seed(bench, tenant_id, [distributor], resellers, "R")
        end_users = await seed(bench, tenant_id, list(reseller_ids), per_reseller, "U")
        loners = await seed(bench, flat_tenant, [None] * CLIENTS, 1, "F")
        engine = make_engine(bench.database_url, pool_size=1, max_overflow=0)
        try:
            async with engine.begin() as conn:  # the members' own metrics, set-based
                await metrics.recompute(conn, tenant_id, [distributor, *reseller_ids, *end_users])
                await metrics.recompute(conn, flat_tenant, loners)
        finally:
            await engine.dispose()
        await bench.sql("ANALYZE accounts, account_metrics, invoices, subscriptions")
        [expected] = await bench.sql(EXPECTED, tenant_id)
        want = (expected["accounts"], str(Decimal(expected["balance"]).quantize(Decimal("0.01"))),
                str(Decimal("32.00") * expected["subscriptions"]))

        # (a) through the API, (b) the statement alone, and the ceiling
        api_times, wrong = [], []
        for _ in range(reps):
            started = time.perf_counter()
            [row] = (await client.gql(REFRESH, {"id": str(distributor)}))["refreshHierarchyMetrics"]
            api_times.append(time.perf_counter() - started)
            got = (row["accountCount"], str(row["balance"]), str(row["contractedMrr"]))
            if got != want or row["stale"]:
                wrong.append(f"{row} (expected {want})")
        statement_times = []
        engine = make_engine(bench.database_url, pool_size=1, max_overflow=0)
        try:
            for _ in range(reps):
                async with engine.begin() as conn:
                    covered_at = await rollups.settle(conn, tenant_id, distributor)
                    started = time.perf_counter()
                    await rollups.roll_up(conn, tenant_id, distributor, covered_at)
                    statement_times.append(time.perf_counter() - started)
        finally:
            await engine.dispose()
        bare_times = []
        pool = await bench.pool(1)
        try:
            async with pool.acquire() as conn:
                await conn.fetch(BARE, tenant_id)
                for _ in range(reps):
                    started = time.perf_counter()
                    await conn.fetch(BARE, tenant_id)
                    bare_times.append(time.perf_counter() - started)
        finally:
            await pool.close()

        # (c) end users of reseller 0 order (the tenant's default interval: no roll-up due
        # during the load), (d) the same with the refresher re-rolling on a 1 s interval;
        # the baseline between them, interleaved: c, F, d, F, c, F, d, F
        ordering = end_users[:CLIENTS]  # the first CLIENTS end users of reseller 0
        await order_load(flat, loners, 1.0)  # warm up
        runs: dict[str, list[Load]] = {"quiet": [], "busy": [], "flat": []}
        roll_ups: set[object] = set()  # the distributor's distinct roll-up times in (d)
        for _ in range(2):
            for mode, interval in (("quiet", 3600), ("busy", 1)):
                await client.gql("mutation($s: Int!) { updateTenantSettings(input: "
                                 "{metricsRefreshIntervalSeconds: $s}) { id } }", {"s": interval})
                watching = asyncio.create_task(watch(bench, tenant_id, distributor, roll_ups))
                try:
                    runs[mode].append(await order_load(client, ordering, seconds))
                finally:
                    watching.cancel()
                if mode == "busy":  # the refresher catches up before the baseline
                    await caught_up(client, distributor)
                runs["flat"].append(await order_load(flat, loners, seconds))
    finally:
        await client.close()
        await flat.close()

    report.require(not wrong, f"refreshHierarchyMetrics answered {wrong[:1]}")
    refresh_rows(report, (
        f"9a refreshHierarchyMetrics (API), distributor over {total:,} accounts, {reps}x",
        f"9b the roll-up statement alone, {total:,} accounts, {reps}x"),
        ("the roll-up statement", "one aggregate over the members' metrics"),
        (api_times, statement_times, bare_times), 1.0)

    def combined(loads: list[Load]) -> Load:
        out = Load()
        for load in loads:
            out.done, out.errors = out.done + load.done, out.errors + load.errors
            out.elapsed += load.elapsed
            out.latencies += load.latencies
            out.samples += load.samples
        return out

    quiet, busy, f = (combined(runs[k]) for k in ("quiet", "busy", "flat"))
    for name, load in (("quiet", quiet), ("busy", busy), ("flat", f)):
        report.require(load.errors == 0 and load.done > 0,
                       f"createOrder ({name}): {load.errors} errors of "
                       f"{load.done + load.errors} {load.samples[:1]}")
    rolled = len(roll_ups) - 1  # the first time seen is (b)'s last roll-up
    report.require(rolled >= 1, f"the refresher rolled the hierarchy up {rolled} time(s) "
                                "during (d)")
    report.notes.append(f"hierarchy createOrder: the refresher rolled the {total:,}-account "
                        f"hierarchy up {rolled} times during the {2 * seconds:.0f} s of (d) "
                        "(1 s interval); the baseline ran after it had caught up")
    baseline = (f"the same load on {CLIENTS} accounts without a parent, interleaved: "
                f"{f.rate:,.0f} orders/s")
    report.add(Row(
        f"9c createOrder, {CLIENTS} end users of one reseller", quiet.summary("orders"),
        baseline, quiet.rate / max(f.rate, 1e-9), "0 errors; ≥ 0.9x",
        report.judge(quiet.errors == 0 and quiet.rate >= 0.9 * f.rate)))
    report.add(Row(
        "9d the same while the refresher re-rolls the hierarchy (1 s interval)",
        busy.summary("orders"), baseline, busy.rate / max(f.rate, 1e-9),
        "0 errors (ratio: the refresher's CPU on a shared machine)",
        report.judge(busy.errors == 0)))
