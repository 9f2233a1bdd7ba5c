"""The process's wiring, in one place: the shared state, the daemons and the job kinds.

Nothing registers itself by being imported. A new daemon or job kind is one line here:
`daemons()` lists what `billgraph serve` (unless --no-workers) and `billgraph worker`
run; `job_kinds()` maps each job kind to its handler (and its give-up hook).
"""

from __future__ import annotations

import asyncio
import signal

from billgraph.config import Settings
from billgraph.db.engine import asyncpg_dsn, make_engine
from billgraph.events import EventHub
from billgraph.services import orders
from billgraph.services.billing import bill_runs
from billgraph.state import AppState
from billgraph.workers import Daemon, Workers
from billgraph.workers.access import audit_retention
from billgraph.workers.bill_runs import give_up_bill_run, run_bill_run_job
from billgraph.workers.hierarchy_refresher import hierarchy_refresher
from billgraph.workers.jobs import JobKind, JobKinds, job_runner
from billgraph.workers.orders import run_order
from billgraph.workers.refresher import metrics_refresher
from billgraph.workers.webhooks import webhook_deliverer


def job_kinds() -> dict[str, JobKind]:
    """Every job kind the job runner runs."""
    return {
        bill_runs.JOB_KIND: JobKind(run_bill_run_job, give_up=give_up_bill_run),
        orders.JOB_KIND: JobKind(run_order),
    }


def daemons(kinds: JobKinds | None = None) -> list[Daemon]:
    """The background daemons: the job runner (over `kinds`, default `job_kinds()`), the
    metrics refresher, the audit trail's retention purge, the webhook delivery worker and the
    roll-up refresher of account hierarchies."""
    return [job_runner(job_kinds() if kinds is None else kinds), metrics_refresher,
            audit_retention, webhook_deliverer, hierarchy_refresher]


def app_state(settings: Settings, *, pool_size: int, max_overflow: int,
              lock_timeout_ms: int | None = None) -> AppState:
    """The shared resources of a process: the engine and the event hub."""
    assert settings.database_url
    engine = make_engine(settings.database_url, pool_size=pool_size, max_overflow=max_overflow,
                         lock_timeout_ms=lock_timeout_ms,
                         generic_plans=settings.generic_plans)
    return AppState(settings=settings, engine=engine,
                    events=EventHub(asyncpg_dsn(settings.database_url)))


async def run_workers(settings: Settings, kinds: JobKinds | None = None) -> None:
    """`billgraph worker`: the daemons without the HTTP server, until SIGINT or SIGTERM."""
    state = app_state(settings, pool_size=5, max_overflow=5)
    workers = Workers(state, daemons(kinds))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await state.events.start()
    await workers.start()
    try:
        await stop.wait()
    finally:
        await workers.stop()
        await state.events.stop()
        await state.engine.dispose()
