"""billgraph's benchmarks (issue 6): `billgraph bench [--quick]` or `python -m bench`.

Starts `billgraph serve` in a subprocess on a fresh database of an embedded PostgreSQL
in a temporary data directory (or of DATABASE_URL's server), runs every benchmark
against it over HTTP, prints ONE table — each figure with the ceiling measured in the
same run and the ratio — and appends it to bench/RESULTS.md with the date, the commit
and the machine.

--baseline [REV]: every scenario also against REV (default d0fe6db), installed in its
own venv, on a database of its own on the same PostgreSQL, scenario by scenario in
the same run; a second table gives new/old of throughput and server CPU per request.

--workers N: every benchmark again against `billgraph serve --workers N`, its rows
marked "[N processes]" beside the 1-process rows.

--load wrk|httpx|auto: what sends the fixed-duration HTTP loads (createOrder, reads,
createPayment); auto (the default): wrk when it is on PATH, else this process's httpx
lanes. Each of those rows names the one that sent it.

--quick: small sizes, a minute or two; checks the properties that must always hold
(zero errors, a flat SQL statement count, exact metrics, complete bill runs) and exits
non-zero when one does not. Timings are printed but not judged.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable

from ._database import fresh_databases
from .baseline import BASELINE_SCENARIOS, DEFAULT, Build, comparison, prepare
from .harness import LOAD_ENV, Bench, Report, Server, append_results, load_generator, machine

# name → module of this package with `async def run(bench)`, in the order they run;
# refresh measures the account the invoices benchmark filled
SCENARIOS = {"orders": "orders", "invoices": "invoices", "refresh": "refresh",
             "payments": "payments",
             "bill_runs": "bill_run_api", "reads": "reads", "usage": "usage", "audit": "audit",
             "webhooks": "webhooks", "hierarchy": "hierarchy"}


async def run_all(url: str, names: list[str], report: Report, processes: int = 1,
                  baseline: tuple[Build, str] | None = None) -> None:
    """Every scenario in turn; with a baseline (an earlier build and its database), each
    one right after against that build, its rows marked with the build's commit."""
    server = Server(url, workers=str(processes))
    await server.start()
    bench = Bench(quick=report.quick, database_url=url, server=server, report=report)
    old: Bench | None = None
    try:
        if baseline is not None:
            build, old_url = baseline
            old_server = Server(old_url, python=str(build.python), workers=str(processes))
            await old_server.start()
            old = Bench(quick=report.quick, database_url=old_url, server=old_server,
                        report=report, make_tenant=build.new_tenant, baseline=True)
        suffix = report.suffix
        for name in names:
            await run_one(bench, name)
            if old is not None and baseline is not None and name in BASELINE_SCENARIOS:
                report.suffix = suffix + baseline[0].label
                try:
                    await run_one(old, name)
                finally:
                    report.suffix = suffix
    finally:
        server.stop()
        if old is not None:
            old.server.stop()


async def run_one(bench: Bench, name: str) -> None:
    report = bench.report
    started = time.perf_counter()
    module = importlib.import_module(f"{__package__}.{SCENARIOS[name]}")
    runner: Callable[[Bench], Awaitable[None]] = module.run
    try:
        await runner(bench)
    except Exception as failure:  # report it, run the others
        traceback.print_exc()
        # the baseline's failures are noted: what this build must hold is its own
        (report.notes if bench.baseline else report.violations).append(
            f"{name}{report.suffix} failed: {type(failure).__name__}: {str(failure)[:500]}")
    print(f"  ({name}{report.suffix}: {time.perf_counter() - started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="billgraph bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes; check errors and SQL counts, not timings")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="run every benchmark a second time against `serve --workers N` "
                             "(its rows beside the 1-process rows; server CPU sums the "
                             "processes)")
    parser.add_argument("--baseline", metavar="REV", nargs="?", const=DEFAULT, default=None,
                        help="run every scenario also against REV (a commit; default "
                             f"{DEFAULT}) installed in its own venv, alternating, and print "
                             "new/old ratios of throughput and server CPU per request")
    parser.add_argument("--no-record", action="store_true",
                        help="do not append the table to bench/RESULTS.md")
    parser.add_argument("--load", choices=("auto", "wrk", "httpx"), default=None,
                        help="what sends the fixed-duration HTTP loads (createOrder, reads, "
                             "createPayment): wrk, the httpx lanes of this process, or auto "
                             f"(wrk when on PATH; the default, or ${LOAD_ENV})")
    args = parser.parse_args(argv)
    if args.load is not None:
        os.environ[LOAD_ENV] = args.load
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for user in ("refresh", "payments"):  # they use the invoices benchmark's account
        if user in names and "invoices" not in names:
            names.insert(names.index(user), "invoices")

    report = Report(quick=args.quick)
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    print(f"billgraph bench ({'quick' if args.quick else 'full'}) on {machine()}", flush=True)
    generator = load_generator()
    os.environ[LOAD_ENV] = generator  # pinned: this build's rows and the baseline's alike
    print(f"fixed-duration HTTP loads sent by {generator}"
          + ("" if generator == "wrk" else " (wrk is not on PATH, or not chosen)"), flush=True)
    report.notes.append(f"fixed-duration HTTP loads (createOrder, reads, createPayment) sent "
                        f"by {generator}")
    build = prepare(args.baseline) if args.baseline else None
    with fresh_databases("bench", build.migrate if build else None) as (url, old_url):
        baseline = (build, old_url) if build is not None and old_url is not None else None
        asyncio.run(run_all(url, names, report, baseline=baseline))
        if args.workers > 1:
            print(f"--- again, against serve --workers {args.workers}", flush=True)
            report.suffix = f" [{args.workers} processes]"
            asyncio.run(run_all(url, names, report, args.workers, baseline=baseline))
    seconds = time.perf_counter() - started
    print("\n" + report.table())
    if build is not None:
        compared = comparison(report, build)
        print(f"\nthis build vs {build.rev} ({build.commit[:7]}), same run:\n{compared}")
        report.notes.append(f"vs {build.rev} ({build.commit[:7]}), same run:\n\n"
                            f"{compared}\n")
    for note in report.notes:
        print(f"- {note}")
    if not args.no_record:
        append_results(report, started_at, seconds)
        print(f"\n(appended to bench/RESULTS.md; {seconds:.0f} s)")
    if report.violations:
        print("\nFAILED:\n" + "\n".join(f"  - {v}" for v in report.violations), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
