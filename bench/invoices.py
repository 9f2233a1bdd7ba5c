"""The migration: 200,000 standalone invoices of one line each into ONE partner account,
through createStandaloneInvoices in batches of 1,000 from 4 concurrent clients
(the mutation and input shape of bench/standalone_invoices.py, one line per invoice).

Ceiling: COPY of the same rows (invoices and their lines) into another account of the
same tenant. Target: all of it in at most 60 s; after one refreshMetrics the account's
metrics are exact (checked against an independent SQL sum over the invoice lines and
against the amount the inputs add up to).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from decimal import Decimal

from billgraph.models import new_id

from .harness import Bench, Row, create_account, fmt_seconds, percentile
from .standalone_invoices import MUTATION

CLIENTS = 4
BATCH = 1000
QUANTITY, UNIT_PRICE = "2", "10.125"  # one line of 20.25 (rounded half-up from 20.250)
LINE_AMOUNT = Decimal("20.25")
REFRESH = """mutation($id: ID!) { refreshMetrics(accountId: $id) {
  totalInvoiceBalance balance lastInvoiceDate stale } }"""


def invoice_date(i: int) -> str:
    return f"2025-{1 + i % 12:02d}-15"


def batch(account: str, n: int) -> list[dict[str, object]]:
    return [{"accountId": account, "invoiceDate": invoice_date(i),
             "invoiceNumber": f"LEGACY-{n}-{i}",
             "lines": [{"description": "migrated line", "quantity": QUANTITY,
                        "unitPrice": UNIT_PRICE}]}
            for i in range(BATCH)]


async def copy_ceiling(bench: Bench, tenant_id: uuid.UUID, account: str, count: int) -> float:
    """Seconds to COPY `count` invoices with one line each (the same rows) into `account`."""
    account_id = uuid.UUID(account)
    now = dt.datetime.now(dt.UTC)
    invoices, lines = [], []
    for k in range(count):
        invoice_id = new_id()
        day = dt.date.fromisoformat(invoice_date(k % BATCH))
        invoices.append((tenant_id, invoice_id, f"COPY-{k}", account_id, day, day, "POSTED",
                         LINE_AMOUNT, LINE_AMOUNT, "USD", now))
        lines.append((tenant_id, new_id(), invoice_id, 0, "migrated line", Decimal(QUANTITY),
                      Decimal(UNIT_PRICE), LINE_AMOUNT))
    pool = await bench.pool(1)
    try:
        async with pool.acquire() as conn:
            started = time.perf_counter()
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "invoices", records=invoices, columns=[
                        "tenant_id", "id", "invoice_number", "account_id", "invoice_date",
                        "due_date", "status", "amount", "balance", "currency", "posted_at"])
                await conn.copy_records_to_table(
                    "invoice_lines", records=lines, columns=[
                        "tenant_id", "id", "invoice_id", "position", "description", "quantity",
                        "unit_price", "amount"])
            return time.perf_counter() - started
    finally:
        await pool.close()


async def run(bench: Bench) -> None:
    count = 4 * BATCH if bench.quick else 200_000
    batches = count // BATCH
    print(f"createStandaloneInvoices: {count:,} invoices, batches of {BATCH:,}, "
          f"{CLIENTS} clients", flush=True)
    tenant_id, client = await bench.tenant("invoices")
    account = await create_account(client, "Migrated reseller", True)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(batches):
        queue.put_nowait(n)
    latencies: list[float] = []
    failures: list[str] = []

    async def send(lane: int) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            started = time.perf_counter()
            try:
                body, status = await client.post(
                    MUTATION, {"inputs": batch(account, n), "key": f"batch-{n}"}, lane=lane)
            except Exception as error:  # counted as a failed batch
                failures.append(f"batch {n}: {type(error).__name__}: {error}")
                continue
            latencies.append(time.perf_counter() - started)
            if body.get("errors") or status != 200:
                failures.append(f"batch {n}: {str(body.get('errors'))[:300]}")
                continue
            failures.extend(f"batch {n}: {r['errors']}"
                            for r in body["data"]["createStandaloneInvoices"] if r["errors"])

    try:
        started = time.perf_counter()
        await asyncio.gather(*(send(lane) for lane in range(CLIENTS)))
        took = time.perf_counter() - started
        refreshed = (await client.gql(REFRESH, {"id": account}))["refreshMetrics"]
    finally:
        await client.close()

    (row,) = await bench.sql(
        "SELECT count(*) AS n, sum(l.amount) AS lines, max(i.invoice_date) AS last "
        "FROM invoices i JOIN invoice_lines l ON l.tenant_id = i.tenant_id "
        "AND l.invoice_id = i.id WHERE i.tenant_id = $1 AND i.account_id = $2 "
        "AND i.status = 'POSTED'", tenant_id, uuid.UUID(account))
    expected = LINE_AMOUNT * count
    exact = (row["n"] == count and row["lines"] == expected
             and Decimal(refreshed["totalInvoiceBalance"]) == expected
             and Decimal(refreshed["balance"]) == expected and refreshed["stale"] is False
             and refreshed["lastInvoiceDate"] == row["last"].isoformat())
    report = bench.report
    report.require(not failures, f"createStandaloneInvoices: {len(failures)} failures "
                                 f"{failures[:2]}")
    report.require(exact, f"metrics after one refresh: {refreshed} but the lines add up to "
                          f"{row['lines']} over {row['n']} invoices (expected {expected})")

    copy = await copy_ceiling(bench, tenant_id, await _account(bench, tenant_id), count)
    bench.shared["invoices"] = {"tenant_id": tenant_id, "key": client.key, "account": account,
                                "count": count, "expected": expected}
    report.add(Row(
        f"2 createStandaloneInvoices, {count:,} x 1 line into one partner account "
        f"({CLIENTS} clients x batches of {BATCH:,})",
        f"{fmt_seconds(took)} ({count / took:,.0f} invoices/s), batch p50 "
        f"{fmt_seconds(percentile(latencies, 50))} / p99 {fmt_seconds(percentile(latencies, 99))},"
        f" {len(failures)} errors; metrics exact after 1 refresh: {'yes' if exact else 'NO'}",
        f"COPY of the same rows: {fmt_seconds(copy)}", copy / took,
        "≤ 60 s; 0 errors; exact metrics",
        report.judge(took <= 60 and not failures and exact), rate=count / took))


async def _account(bench: Bench, tenant_id: uuid.UUID) -> str:
    """Another partner account of the tenant, written directly (the COPY's target)."""
    account_id = new_id()
    await bench.sql(
        "WITH a AS (INSERT INTO accounts (tenant_id, id, account_number, name, currency, "
        "bill_cycle_day, partner_account, status) VALUES ($1, $2, 'COPY-CEILING', "
        "'COPY ceiling', 'USD', 1, true, 'ACTIVE')) INSERT INTO account_metrics (tenant_id, "
        "account_id, currency, balance, credit_balance, total_invoice_balance, "
        "total_debit_memo_balance, unapplied_credit_memo_amount, unapplied_payment_amount, "
        "contracted_mrr) VALUES ($1, $2, 'USD', 0, 0, 0, 0, 0, 0, 0)", tenant_id, account_id)
    return str(account_id)
