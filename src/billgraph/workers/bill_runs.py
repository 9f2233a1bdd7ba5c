"""Bill runs in the background: the `bill_run` job kind (queued by the billRun mutation)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import RowMapping

from billgraph.services import jobs
from billgraph.services.billing import bill_runs
from billgraph.services.billing.invoicing import Superseded
from billgraph.state import AppState


async def run_bill_run_job(state: AppState, job: RowMapping) -> None:
    """Run (or resume, when the job is claimed again) the job's bill run.

    The run commits owner by owner, guarded by this job attempt; its last transaction
    marks the run COMPLETED and the job SUCCEEDED together.
    """
    try:
        await bill_runs.run_bill_run(state, state.events.publish, job["tenant_id"],
                                     job["bill_run_id"], job=job)
    except Superseded as taken:
        raise jobs.LostClaim(str(taken)) from None


async def give_up_bill_run(state: AppState, job: RowMapping, errors: list[dict[str, Any]]) -> None:
    """The job is not tried again: its bill run is FAILED with `errors`."""
    await bill_runs.give_up(state, state.events.publish, job, errors)
