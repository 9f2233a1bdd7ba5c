"""Metric refresh of an account holding 200,000 invoices (the one bench/invoices.py
filled): refreshMetrics through the API, and the recompute statement alone
(services.metrics.RECOMPUTE), several times each. Target: ≤ 0.5 s per refresh.

Ceilings: for the API, the recompute statement itself; for the statement, the least
any recompute must do — one aggregate over the account's posted invoices.
"""

from __future__ import annotations

import time
import uuid

from billgraph.db.engine import make_engine
from billgraph.services import metrics

from .harness import Bench, Client, refresh_rows

REFRESH = "mutation($id: ID!) { refreshMetrics(accountId: $id) { totalInvoiceBalance stale } }"
BARE_SUM = ("SELECT sum(balance), max(invoice_date) FROM invoices WHERE tenant_id = $1 "
            "AND account_id = $2 AND status = 'POSTED'")


async def run(bench: Bench) -> None:
    shared = bench.shared.get("invoices")
    if shared is None:
        raise RuntimeError("the refresh benchmark measures the account the invoices "
                           "benchmark filled: run both")
    tenant_id: uuid.UUID = shared["tenant_id"]
    account: str = shared["account"]
    count: int = shared["count"]
    reps = 3 if bench.quick else 7
    print(f"refresh: an account with {count:,} invoices, {reps} times each", flush=True)
    api = Client(bench.server.url, shared["key"], lanes=1)
    api_times, statement_times, bare_times = [], [], []
    wrong: list[str] = []
    try:
        for _ in range(reps):
            started = time.perf_counter()
            body = (await api.gql(REFRESH, {"id": account}))["refreshMetrics"]
            api_times.append(time.perf_counter() - started)
            if str(body["totalInvoiceBalance"]) != str(shared["expected"]) or body["stale"]:
                wrong.append(str(body))
    finally:
        await api.close()

    engine = make_engine(bench.database_url, pool_size=1, max_overflow=0)
    try:
        for _ in range(reps):
            async with engine.begin() as conn:
                started = time.perf_counter()
                await metrics.recompute(conn, tenant_id, [uuid.UUID(account)])
                statement_times.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    pool = await bench.pool(1)
    try:
        async with pool.acquire() as conn:
            await conn.fetch(BARE_SUM, tenant_id, uuid.UUID(account))  # prepare
            for _ in range(reps):
                started = time.perf_counter()
                await conn.fetch(BARE_SUM, tenant_id, uuid.UUID(account))
                bare_times.append(time.perf_counter() - started)
    finally:
        await pool.close()

    report = bench.report
    report.require(not wrong, f"refreshMetrics answered {wrong[:1]}, expected "
                              f"{shared['expected']} and not stale")
    refresh_rows(report, (
        f"4a refreshMetrics (API) of an account with {count:,} invoices, {reps}x",
        f"4b the recompute statement alone, {count:,} invoices, {reps}x"),
        ("the recompute statement", "one aggregate over the posted invoices"),
        (api_times, statement_times, bare_times), 0.5)
