"""`billgraph worker` for the crash test: its bill runs stop after N invoice owners.

    python -m tests.workers.bill_run_worker DATABASE_URL N

Runs the real daemons (job runner included). The bill_run handler is the real one
with an `after_owner` hook: once N owners are committed, every transaction that
finishes an owner parks there for good. When all of the run's side-by-side
transactions are parked (each committed the owner it was on: N + CONCURRENCY - 1 in
all) it prints `PAUSED` — and the test kills the process (SIGKILL) at that point.
Its write batches hold one owner each, so that each side-by-side transaction commits
one owner at a time (a write batch of several: tests/workers/test_bill_run_crash.py).
"""

from __future__ import annotations

import asyncio
import sys
import uuid

from sqlalchemy import RowMapping

from billgraph.bootstrap import job_kinds, run_workers
from billgraph.config import Settings
from billgraph.services import jobs
from billgraph.services.billing import bill_runs
from billgraph.services.billing.invoicing import Superseded
from billgraph.state import AppState
from billgraph.workers.jobs import JobKind


def main(database_url: str, pause_after: int) -> None:
    bill_runs.WRITE_OWNERS = 1
    done = parked = 0

    async def pause(owner: uuid.UUID) -> None:
        nonlocal done, parked
        done += 1
        if done >= pause_after:
            parked += 1
            if parked == bill_runs.CONCURRENCY:
                print(f"PAUSED after {done} owners", flush=True)
            await asyncio.Event().wait()

    async def handler(state: AppState, job: RowMapping) -> None:
        try:
            await bill_runs.run_bill_run(state, state.events.publish, job["tenant_id"],
                                         job["bill_run_id"], job=job, after_owner=pause)
        except Superseded as taken:
            raise jobs.LostClaim(str(taken)) from None

    kinds = job_kinds()
    kinds[bill_runs.JOB_KIND] = JobKind(handler, give_up=kinds[bill_runs.JOB_KIND].give_up)
    settings = Settings(database_url=database_url, worker_tick_seconds=0.05,
                        log_level="WARNING")
    asyncio.run(run_workers(settings, kinds))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
