"""What distribution costs on one machine: the same load on one PostgreSQL and on a Citus
cluster (a coordinator and 2 workers, embedded PostgreSQL with Citus, on this machine).

`python -m bench.citus [--quick]` (Citus built into the venv's embedded PostgreSQL with
../shared/citus/build.sh). For each server, a fresh migrated database and one
`billgraph serve` process (workers on):

(a) createOrder, 32 clients for S seconds, each ordering for an account of its own;
(b) createStandaloneInvoices, 32 clients for S seconds, batches of 10 one-line invoices;
(c) a bill run over 1,000 invoice owners (one 10.00 subscription each) in 4 tenants,
    the 4 runs started at once, timed until all 4 are COMPLETED.

The one-PostgreSQL figure is the baseline of the same run (the machine is shared, so
absolute figures drift): the ratio is Citus / PostgreSQL for throughput, PostgreSQL /
Citus for time. Prints one table and appends it to bench/RESULTS.md (--no-record: not).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from billgraph.db.migrate import upgrade

from ._database import fresh_database
from .bill_run_api import PRICE, bill, setup
from .harness import (
    Bench,
    Load,
    Report,
    Row,
    Server,
    append_results,
    closed_loop,
    create_account,
    fleet_catalog,
    machine,
)
from .orders import CREATE_ORDER, order_input
from .standalone_invoices import MUTATION as CREATE_INVOICES

CLIENTS = 32
BATCH = 10
TENANTS = 4


@contextlib.contextmanager
def citus_database() -> Iterator[str]:
    from billgraph.db.embedded_citus import CitusCluster

    tmp = Path(tempfile.mkdtemp(prefix="billgraph-bench-citus-"))
    cluster = CitusCluster(tmp, workers=2)
    try:
        cluster.start()
        asyncio.run(cluster.create_database("bench"))
        upgrade(cluster.url("bench"))
        yield cluster.url("bench")
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


async def writes(bench: Bench, seconds: float) -> tuple[Load, Load]:
    _, client = await bench.tenant("writes")
    try:
        await fleet_catalog(client)
        accounts = [await create_account(client, f"Customer {c}", False) for c in range(CLIENTS)]

        async def order(c: int, n: int) -> str | None:
            a = accounts[c]
            return await client.attempt(CREATE_ORDER, order_input(a, a, a), lane=c)

        async def invoices(c: int, n: int) -> str | None:
            inputs = [{"accountId": accounts[c], "invoiceDate": "2026-01-15",
                       "lines": [{"description": "line", "quantity": "1", "unitPrice": "10"}]}
                      for _ in range(BATCH)]
            return await client.attempt(CREATE_INVOICES, {"inputs": inputs}, lane=c)

        await closed_loop(CLIENTS, 1.0, None, order)  # warm up (connections, plans)
        orders = await closed_loop(CLIENTS, seconds, None, order)
        standalone = await closed_loop(CLIENTS, seconds, None, invoices)
        return orders, standalone
    finally:
        await client.close()


async def bill_runs(bench: Bench, owners: int) -> tuple[float, bool]:
    """Seconds until the 4 tenants' runs are all COMPLETED; whether each billed its owners."""
    tenants = [await setup(bench, f"t{n}", owners // TENANTS, 1, False) for n in range(TENANTS)]
    try:
        started = time.perf_counter()
        results = await asyncio.gather(*(bill(bench, c, t) for t, c in tenants))
        took = time.perf_counter() - started
    finally:
        for _, c in tenants:
            await c.close()
    per = owners // TENANTS
    exact = all(s.get("status") == "COMPLETED" and s.get("invoicesCreated") == per
                and Decimal(str(s.get("totalAmount"))) == PRICE * per and lines == per
                for _, _, s, lines in results)
    return took, exact


async def measure(url: str, quick: bool, report: Report) -> dict[str, float]:
    server = Server(url)
    await server.start()
    bench = Bench(quick=quick, database_url=url, server=server, report=report)
    try:
        seconds = 3.0 if quick else 15.0
        orders, standalone = await writes(bench, seconds)
        took, exact = await bill_runs(bench, 100 if quick else 1000)
    finally:
        server.stop()
    report.require(orders.errors == 0 and standalone.errors == 0,
                   f"errors: createOrder {orders.errors}, createStandaloneInvoices "
                   f"{standalone.errors} ({orders.samples[:1] + standalone.samples[:1]})")
    report.require(exact, "a bill run did not bill exactly its owners")
    return {"orders": orders.rate, "invoices": standalone.rate * BATCH, "bill_run": took}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.citus", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    report = Report(quick=args.quick)
    started_at, started = dt.datetime.now(dt.UTC), time.perf_counter()
    print(f"Citus vs PostgreSQL on {machine()}", flush=True)
    with fresh_database("citus-baseline") as url:
        plain = asyncio.run(measure(url, args.quick, report))
    with citus_database() as url:
        citus = asyncio.run(measure(url, args.quick, report))
    owners = 100 if args.quick else 1000
    for key, label, unit in (
            ("orders", f"createOrder, {CLIENTS} clients, an account each", "orders/s"),
            ("invoices", f"createStandaloneInvoices, {CLIENTS} clients, batches of {BATCH}",
             "invoices/s")):
        report.add(Row(f"Citus 3 nodes: {label}", f"{citus[key]:,.0f} {unit}",
                       f"one PostgreSQL: {plain[key]:,.0f} {unit}", citus[key] / plain[key],
                       "none (what distribution costs on one machine)", None))
    report.add(Row(f"Citus 3 nodes: bill run, {owners:,} invoice owners in {TENANTS} tenants "
                   "(4 runs at once)", f"{citus['bill_run']:.2f} s",
                   f"one PostgreSQL: {plain['bill_run']:.2f} s",
                   plain["bill_run"] / citus["bill_run"], "none", None))
    print("\n" + report.table())
    if not args.no_record:
        append_results(report, started_at, time.perf_counter() - started)
    return 1 if report.violations else 0


if __name__ == "__main__":
    raise SystemExit(main())
