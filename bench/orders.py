"""createOrder throughput: one CREATE_SUBSCRIPTION with two items per order, 32 clients.

(a) one partner invoice owner (the reseller) and one partner subscription owner (its
    end user), already holding 2,000 subscriptions;
(b) the same two accounts not flagged (synchronous metrics: writes serialize);
(c) 32 distinct accounts (not flagged), one per client: no contention at all.
Ceiling: the same rows (order, order action, subscription, its owners row, two items,
the stale marks) inserted by raw asyncpg, one transaction per order, 32 connections.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from billgraph.models import new_id

from .harness import (
    Bench,
    Client,
    CpuMeter,
    Load,
    Row,
    closed_loop,
    create_account,
    fixed_load,
    fleet_catalog,
    seed_subscriptions,
)

CLIENTS = 32
CREATE_ORDER = """mutation($input: CreateOrderInput!) {
  createOrder(input: $input) { id orderNumber } }"""

RAW_ORDER = """
WITH o AS (
    INSERT INTO orders (tenant_id, id, order_number, order_date, account_id)
    VALUES ($1, $2, 'O' || lpad(nextval('order_number_seq')::text, 8, '0'), $3, $4)),
s AS (
    INSERT INTO subscriptions (tenant_id, id, subscription_number, owner_account_id,
        invoice_owner_account_id, status, start_date, price_plan_id, scheme_id,
        billing_cycle_day, agreement_date, billing_frequency)
    VALUES ($1, $5, 'S' || lpad(nextval('subscription_number_seq')::text, 8, '0'), $6, $4,
            'ACTIVE', $3, $7, $8, 1, $3, 'MONTHLY')),
a AS (
    INSERT INTO order_actions (tenant_id, id, order_id, subscription_id, position, type,
                               effective_date)
    VALUES ($1, $9, $2, $5, 0, 'CREATE_SUBSCRIPTION', $3)),
w AS (
    INSERT INTO subscription_owners (tenant_id, id, subscription_id, effective_date,
                                     owner_account_id, invoice_owner_account_id)
    VALUES ($1, $10, $5, $3, $6, $4)),
i AS (
    INSERT INTO subscription_items (tenant_id, id, subscription_id, product_id, charge_type,
                                    quantity, price, price_period, start_date, mrr)
    VALUES ($1, $11, $5, $12, 'RECURRING', 1, 12.00, 'MONTHLY', $3, 12.00),
           ($1, $13, $5, $14, 'RECURRING', 1, 60.00, 'QUARTERLY', $3, 20.00))
INSERT INTO metrics_stale_marks (tenant_id, id, account_id) VALUES ($1, $15, $4), ($1, $16, $6)
"""


def order_input(account: str, owner: str, invoice_owner: str) -> dict[str, Any]:
    return {"input": {"accountId": account, "orderDate": "2026-01-01", "subscriptions": [{
        "actions": [{
            "type": "CREATE_SUBSCRIPTION", "effectiveDate": "2026-01-01",
            "subscriptionOwnerAccountId": owner, "invoiceOwnerAccountId": invoice_owner,
            "billingTerms": {"pricePlan": {"code": "FLEET"}, "agreementDate": "2026-01-01",
                             "billingFrequency": "MONTHLY"},
            "items": [{"productCode": "TRACKER"}, {"productCode": "SUPPORT"}]}]}]}}


async def api_load(bench: Bench, client: Client, pairs: list[tuple[str, str]],
                   seconds: float) -> tuple[Load, CpuMeter]:
    """32 clients ordering for `seconds` for `pairs` (subscription owner, invoice owner):
    wrk's requests take them in turn, httpx lane c always pairs[c % len(pairs)]. Also the
    CPU each side spent per order."""

    operations = [(CREATE_ORDER, order_input(payer, owner, payer)) for owner, payer in pairs]
    with await bench.cpu_meter() as cpu:
        load = await fixed_load(client, operations, CLIENTS, seconds)
    return load, cpu


async def raw_load(bench: Bench, tenant_id: uuid.UUID, owner: str, payer: str,
                   seconds: float) -> Load:
    """The ceiling: the same rows by raw asyncpg, one transaction per order."""
    plan, scheme = (await bench.sql(
        "SELECT p.id, s.id FROM price_plans p JOIN billing_term_schemes s ON "
        "s.tenant_id = p.tenant_id AND s.code = 'DEFAULT' WHERE p.tenant_id = $1 "
        "AND p.code = 'FLEET'", tenant_id))[0]
    products = dict(await bench.sql("SELECT code, id FROM products WHERE tenant_id = $1",
                                    tenant_id))
    pool = await bench.pool(CLIENTS)
    owner_id, payer_id = uuid.UUID(owner), uuid.UUID(payer)
    day = dt.date(2026, 1, 1)

    async def request(c: int, n: int) -> str | None:
        async with pool.acquire() as db, db.transaction():
            await db.execute(RAW_ORDER, tenant_id, new_id(), day, payer_id, new_id(), owner_id,
                             plan, scheme, new_id(), new_id(), new_id(), products["TRACKER"],
                             new_id(), products["SUPPORT"], new_id(), new_id())
        return None

    try:
        await closed_loop(CLIENTS, 0.5, None, request)  # prepare the statement everywhere
        with await bench.cpu_meter() as cpu:
            load = await closed_loop(CLIENTS, seconds, None, request)
        bench.report.notes.append(f"createOrder raw ceiling: {cpu.per(load.done)}")
        return load
    finally:
        await pool.close()


async def run(bench: Bench) -> None:
    quick = bench.quick
    seed = 100 if quick else 2000
    seconds = 2.0 if quick else 10.0
    print(f"createOrder: {CLIENTS} clients, {seconds:.0f} s each, {seed} subscriptions "
          "seeded on (a) and (b)", flush=True)
    tenant_id, client = await bench.tenant("orders")
    try:
        await fleet_catalog(client)
        partner = (await create_account(client, "Reseller P", True),
                   await create_account(client, "End user P", True))
        plain = (await create_account(client, "Reseller N", False),
                 await create_account(client, "End user N", False))
        distinct = [await create_account(client, f"Customer {i}", False)
                    for i in range(CLIENTS)]
        ceiling = (await create_account(client, "Reseller raw", True),
                   await create_account(client, "End user raw", True))
        for (payer, owner), prefix in ((partner, "SP-"), (plain, "SN-")):
            await seed_subscriptions(bench, tenant_id, prefix, owner, payer, seed)

        await api_load(bench, client, [(a, a) for a in distinct], 1.0)  # warm up
        runs: dict[str, tuple[Load, CpuMeter]] = {}
        # (b) and (c) first: each load is fixed in time, so it leaves as many rows as its
        # build managed, and the recomputes of (b) and (c) read them (in this bench's
        # tenant of few accounts, their generic plan hash-joins every subscription item
        # of the table: 19,000 rows for an account of 60 subscriptions). Run after (a), a
        # build with a faster (a) ran its (b) and (c) over more rows. A partner order
        # reads none of those rows.
        runs["b"] = await api_load(bench, client, [(plain[1], plain[0])], seconds)
        runs["c"] = await api_load(bench, client, [(a, a) for a in distinct], seconds)
        runs["a"] = await api_load(bench, client, [(partner[1], partner[0])], seconds)
        raw = await raw_load(bench, tenant_id, ceiling[1], ceiling[0], seconds)
    finally:
        await client.close()

    a, b, c = (runs[k][0] for k in "abc")
    ceiling_text = f"raw asyncpg, {CLIENTS} conns: {raw.rate:,.0f} orders/s"
    labels = {"a": f"1a createOrder, one partner reseller + end user ({seed:,} subs)",
              "b": f"1b createOrder, the same accounts not flagged ({seed:,} subs)",
              "c": f"1c createOrder, {CLIENTS} distinct accounts"}
    for key, load in (("a", a), ("b", b), ("c", c)):
        bench.report.require(load.errors == 0 and load.done > 0,
                             f"createOrder ({key}): {load.errors} errors of "
                             f"{load.done + load.errors} {load.samples[:1]}")
        bench.report.notes.append(
            f"createOrder ({key}): {runs[key][1].per(load.done + load.errors)}")
    cpu = {k: runs[k][1].server_ms(runs[k][0].done + runs[k][0].errors) for k in "abc"}
    report = bench.report
    report.add(Row(labels["a"], a.summary("orders"), ceiling_text, a.rate / raw.rate,
                   "0 errors; ≥ 0.33x ceiling", report.judge(a.errors == 0
                                                              and a.rate >= 0.33 * raw.rate),
                   rate=a.rate, cpu_ms=cpu["a"]))
    report.add(Row(labels["b"], b.summary("orders"), ceiling_text, b.rate / raw.rate,
                   f"0 errors; (a) ≥ 3x (b): (a)/(b) = {a.rate / max(b.rate, 1e-9):.1f}",
                   report.judge(b.errors == 0 and a.rate >= 3 * b.rate),
                   rate=b.rate, cpu_ms=cpu["b"]))
    report.add(Row(labels["c"], c.summary("orders"), ceiling_text, c.rate / raw.rate,
                   f"0 errors; (a) ≥ 0.9x (c): (a)/(c) = {a.rate / max(c.rate, 1e-9):.2f}",
                   report.judge(c.errors == 0 and a.rate >= 0.9 * c.rate),
                   rate=c.rate, cpu_ms=cpu["c"]))
