"""recordUsage into ONE partner account (SPEC §11): 4 clients send batches of 10,000 usage
records (device-days) for the partner's subscriptions; then the bill run over them.

Setup (not measured): a USAGE charge DEVICE priced VOLUME (1–100 device-days at 1.00,
101+ at 0.80) and `subscriptions` subscriptions of the partner with one DEVICE item,
written with SQL. Measured: records/s from the first request to the last response,
every record accepted (0 errors), against a ceiling measured in the same run: the same
rows COPYed by 4 asyncpg connections in the same batches straight into usage_records
(under another tenant id, so their keys do not collide). Then a bill run through the
API (billRun polled until COMPLETED) invoices every subscription's January usage in one
invoice to the partner, against the ceiling of one GROUP BY over the same records.
Target: ≥ 20,000 records/s, 0 errors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from decimal import Decimal

from .bill_run_api import bill
from .harness import Bench, Client, Row, create_account, fmt_seconds

BATCH = 10_000
CLIENTS = 4
RECORD = """mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) {
  recordId accepted duplicate errors { code message } } }"""
PLAN = """mutation { createPricePlan(input: {code: "METERED", name: "Metered", charges: [
  {productCode: "DEVICE", chargeType: USAGE, price: "0", pricingModel: VOLUME,
   unitOfMeasure: "device-day",
   tiers: [{upTo: "100", unitPrice: "1.00"}, {unitPrice: "0.80"}]}]}) { id } }"""

SEED = """
WITH plan AS (
    SELECT p.id AS plan_id, s.id AS scheme_id, c.product_id FROM price_plans p
    JOIN billing_term_schemes s ON s.tenant_id = p.tenant_id AND s.code = 'DEFAULT'
    JOIN plan_charges c ON c.tenant_id = p.tenant_id AND c.price_plan_id = p.id
    WHERE p.tenant_id = $1 AND p.code = 'METERED'),
sub AS (
    INSERT INTO subscriptions (tenant_id, id, subscription_number, owner_account_id,
        invoice_owner_account_id, status, start_date, price_plan_id, scheme_id,
        billing_cycle_day, agreement_date, billing_frequency)
    SELECT $1, gen_random_uuid(), 'U' || n, $2, $2, 'ACTIVE', DATE '2026-01-01', plan_id,
           scheme_id, 1, DATE '2026-01-01', 'MONTHLY'
    FROM plan, generate_series(0, $3 - 1) n
    RETURNING id, subscription_number),
own AS (
    INSERT INTO subscription_owners (tenant_id, id, subscription_id, effective_date,
                                     owner_account_id, invoice_owner_account_id)
    SELECT $1, gen_random_uuid(), id, DATE '2026-01-01', $2, $2 FROM sub)
INSERT INTO subscription_items (tenant_id, id, subscription_id, product_id, charge_type,
                                quantity, price, price_period, start_date, mrr)
SELECT $1, gen_random_uuid(), sub.id, plan.product_id, 'USAGE', 1, 0, 'MONTHLY',
       DATE '2026-01-01', 0
FROM sub, plan
RETURNING subscription_id, id, product_id
"""


def volume(device_days: int) -> Decimal:
    """1–100 at 1.00, 101+ at 0.80: every unit at its one tier's price."""
    return Decimal(device_days) * (Decimal("1.00") if device_days <= 100 else Decimal("0.80"))


def batches(total: int, subscriptions: int) -> list[list[dict[str, str]]]:
    """Record n: 1 device-day of subscription U(n mod S) on a January day."""
    records = [{"recordId": f"dev-{n}", "subscriptionNumber": f"U{n % subscriptions}",
                "productCode": "DEVICE", "quantity": "1",
                "timestamp": f"2026-01-{1 + (n // subscriptions) % 28:02d}T12:00:00Z"}
               for n in range(total)]
    return [records[i:i + BATCH] for i in range(0, total, BATCH)]


async def send(client: Client, work: list[list[dict[str, str]]]) -> tuple[float, int, int]:
    """4 clients take batches from one queue; (seconds, accepted, problems)."""
    queue: asyncio.Queue[list[dict[str, str]]] = asyncio.Queue()
    for batch in work:
        queue.put_nowait(batch)
    accepted = problems = 0

    async def lane(n: int) -> None:
        nonlocal accepted, problems
        while not queue.empty():
            batch = queue.get_nowait()
            try:
                results = (await client.gql(RECORD, {"r": batch}, lane=n))["recordUsage"]
            except Exception:  # every failure is counted, not raised
                problems += len(batch)
                continue
            accepted += sum(r["accepted"] for r in results)
            problems += sum(bool(r["errors"]) or not r["accepted"] for r in results)

    started = time.perf_counter()
    await asyncio.gather(*(lane(n) for n in range(CLIENTS)))
    return time.perf_counter() - started, accepted, problems


async def copy_ceiling(bench: Bench, tenant_id: uuid.UUID,
                       work: list[list[dict[str, str]]]) -> float:
    """The same rows (resolved to their items) COPYed by 4 connections, batch by batch."""
    rows = await bench.sql(
        "SELECT s.subscription_number, i.subscription_id, i.id, i.product_id "
        "FROM subscription_items i JOIN subscriptions s ON s.tenant_id = i.tenant_id "
        "AND s.id = i.subscription_id WHERE i.tenant_id = $1", tenant_id)
    items = {r["subscription_number"]: r for r in rows}
    other = uuid.uuid4()  # another tenant: the same record ids do not collide

    def resolved(batch: list[dict[str, str]]) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for r in batch:
            item = items[r["subscriptionNumber"]]
            at = dt.datetime.fromisoformat(r["timestamp"])
            out.append((other, r["recordId"], item["subscription_id"], item["id"],
                        item["product_id"], Decimal(r["quantity"]), at, at.date()))
        return out

    copies = [resolved(b) for b in work]
    pool = await bench.pool(CLIENTS)
    try:
        queue: asyncio.Queue[list[tuple[object, ...]]] = asyncio.Queue()
        for c in copies:
            queue.put_nowait(c)

        async def lane() -> None:
            async with pool.acquire() as conn:
                while not queue.empty():
                    await conn.copy_records_to_table(
                        "usage_records", records=queue.get_nowait(),
                        columns=["tenant_id", "record_id", "subscription_id", "item_id",
                                 "product_id", "quantity", "recorded_at", "usage_date"])

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(CLIENTS)))
        took = time.perf_counter() - started
        await pool.execute("DELETE FROM usage_records WHERE tenant_id = $1", other)
        return took
    finally:
        await pool.close()


async def group_by(bench: Bench, tenant_id: uuid.UUID) -> float:
    """The bill run's ceiling: one GROUP BY of the same records per item and day."""
    started = time.perf_counter()
    await bench.sql("SELECT item_id, usage_date, sum(quantity) FROM usage_records "
                    "WHERE tenant_id = $1 GROUP BY item_id, usage_date", tenant_id)
    return time.perf_counter() - started


async def run(bench: Bench) -> None:
    subscriptions, total = (100, 4 * BATCH) if bench.quick else (1000, 20 * BATCH)
    print(f"usage: {total:,} records for {subscriptions:,} subscriptions of one partner",
          flush=True)
    tenant_id, client = await bench.tenant("usage")
    try:
        await client.gql('mutation { createProduct(input: {code: "DEVICE", '
                         'name: "Device-day"}) { id } }')
        await client.gql(PLAN)
        partner = await create_account(client, "Distributor", True)
        conn_rows = await bench.sql(SEED, tenant_id, uuid.UUID(partner), subscriptions)
        assert len(conn_rows) == subscriptions
        await bench.sql("ANALYZE subscriptions, subscription_items")
        work = batches(total, subscriptions)
        ceiling = await copy_ceiling(bench, tenant_id, work)
        with await bench.cpu_meter() as cpu:
            took, accepted, problems = await send(client, work)
        ceiling_bill = await group_by(bench, tenant_id)
        took_bill, _, state, lines = await bill(bench, client, tenant_id, dt.date(2026, 2, 1))
    finally:
        await client.close()
    report = bench.report
    report.require(problems == 0 and accepted == total,
                   f"recordUsage: {accepted} of {total} accepted, {problems} errors")
    expected = volume(total // subscriptions) * subscriptions
    report.require(state.get("status") == "COMPLETED" and state.get("invoicesCreated") == 1
                   and lines == subscriptions
                   and Decimal(str(state.get("totalAmount"))) == expected,
                   f"usage bill run ended {state}; expected 1 invoice of {expected}")
    rate, raw = total / took, total / ceiling
    report.add(Row(
        f"usage: recordUsage, {CLIENTS} clients x batches of {BATCH:,} into one partner "
        f"account ({subscriptions:,} subscriptions)",
        f"{rate:,.0f} records/s ({total:,} in {fmt_seconds(took)}), {problems} errors; "
        f"CPU server {cpu.server:.1f} s, PostgreSQL {cpu.postgres:.1f} s",
        f"COPY of the same rows, {CLIENTS} connections: {raw:,.0f} records/s", rate / raw,
        "≥ 20,000 records/s, 0 errors", report.judge(rate >= 20_000 and problems == 0)))
    report.add(Row(
        f"usage: bill run over the {total:,} records (VOLUME tiers)",
        f"{fmt_seconds(took_bill)} from the mutation to COMPLETED; 1 invoice, "
        f"{lines:,} lines, {state.get('totalAmount')}",
        f"one GROUP BY of the records: {fmt_seconds(ceiling_bill)}",
        ceiling_bill / took_bill, "COMPLETED, exact total", None))
