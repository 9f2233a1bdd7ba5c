"""A worker killed in the middle of a bill run loses nothing; the run completes exactly."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from billgraph.services.billing import bill_runs
from tests.api.bill_run_support import (
    account,
    bill,
    get,
    invoices,
    ledger,
    plan,
    run_jobs,
    start,
    subscribe,
    worker_state,
)
from tests.support import Client, LiveServer

OWNERS, PAUSE_AFTER = 10, 4
# each side-by-side transaction commits the owner it is on before it parks
COMMITTED = PAUSE_AFTER + bill_runs.CONCURRENCY - 1
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def owners(client: Client) -> list[str]:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    result = [await account(client, f"Owner {n}") for n in range(OWNERS)]
    for owner in result:
        await subscribe(client, owner, "2026-01-01")
    return result


async def killed_mid_run(server: LiveServer, client: Client) -> dict[str, Any]:
    """Start a run, let a worker process bill PAUSE_AFTER owners, then SIGKILL it."""
    run = await start(client, "2026-02-01")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.workers.bill_run_worker", server.database_url,
        str(PAUSE_AFTER), cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line.startswith(b"PAUSED"), line
        # progress is visible while the run works: 7 owners committed, 2 periods each
        during = await get(client, run["id"])
        assert during == {**during, "status": "RUNNING", "accountsTotal": OWNERS,
                          "accountsProcessed": COMMITTED, "invoicesCreated": COMMITTED,
                          "totalAmount": f"{COMMITTED * 20}.00", "finishedAt": None}
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        await proc.wait()
    return run


async def assert_billed_exactly_once(server: LiveServer, client: Client,
                                     owners: list[str]) -> None:
    for owner in owners:
        [invoice] = await invoices(client, owner)
        assert (invoice["amount"], len(invoice["lines"])) == ("20.00", 2)  # Jan + Feb
    entries = await ledger(server, client.tenant_id)
    assert len(entries) == OWNERS * 2 and {e["revision"] for e in entries} == {1}
    assert max(Counter((e["item_id"], e["period_start"]) for e in entries).values()) == 1


async def test_the_job_claimed_again_resumes_after_the_last_committed_owner(
        server: LiveServer, client: Client, owners: list[str]) -> None:
    run = await killed_mid_run(server, client)
    assert len(await ledger(server, client.tenant_id)) == COMMITTED * 2
    # The dead worker's lease runs out (aged here rather than waited for): the job
    # runner claims the job again; the run skips the owners it already invoiced.
    await server.sql("UPDATE jobs SET heartbeat_at = now() - interval '1 hour' "
                     "WHERE bill_run_id = CAST(:r AS uuid)", r=run["id"])
    assert await run_jobs(server, client.tenant_id) == 1
    done = await get(client, run["id"])
    assert done == {**done, "status": "COMPLETED", "accountsTotal": OWNERS,
                    "accountsProcessed": OWNERS, "invoicesCreated": OWNERS,
                    "totalAmount": "200.00", "errors": []}
    [job] = await server.sql("SELECT status, attempt FROM jobs WHERE bill_run_id = "
                             "CAST(:r AS uuid)", r=run["id"])
    assert (job["status"], job["attempt"]) == ("SUCCEEDED", 2)
    await assert_billed_exactly_once(server, client, owners)


async def test_a_new_run_completes_the_rest(
        server: LiveServer, client: Client, owners: list[str]) -> None:
    killed = await killed_mid_run(server, client)
    rerun = await bill(client, server, "2026-02-01")  # the dead run's job is not claimable
    assert rerun == {**rerun, "status": "COMPLETED", "accountsProcessed": OWNERS,
                     "invoicesCreated": OWNERS - COMMITTED,
                     "totalAmount": f"{(OWNERS - COMMITTED) * 20}.00"}
    await assert_billed_exactly_once(server, client, owners)
    # and when the dead run's job is claimed again, it finds nothing left to bill
    await server.sql("UPDATE jobs SET heartbeat_at = now() - interval '1 hour' "
                     "WHERE bill_run_id = CAST(:r AS uuid)", r=killed["id"])
    await run_jobs(server, client.tenant_id)
    old = await get(client, killed["id"])
    assert (old["status"], old["accountsProcessed"], old["invoicesCreated"],
            old["totalAmount"]) == ("COMPLETED", OWNERS, COMMITTED, f"{COMMITTED * 20}.00")
    await assert_billed_exactly_once(server, client, owners)


class Crash(BaseException):
    """An abrupt stop (like a killed process): nothing catches it on the way out."""


async def test_a_run_stopped_between_batches_resumes_after_its_cursor(
        server: LiveServer, client: Client, owners: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bill_runs, "BATCH", 3)
    monkeypatch.setattr(bill_runs, "CONCURRENCY", 2)
    run = await start(client, "2026-02-01")
    run_id, tenant = uuid.UUID(run["id"]), uuid.UUID(client.tenant_id)
    seen: list[uuid.UUID] = []

    async def crash_after_five(owner: uuid.UUID) -> None:
        seen.append(owner)
        if len(seen) == 5:
            raise Crash

    async with worker_state(server) as state:
        with pytest.raises(Crash):
            await bill_runs.run_bill_run(state, state.events.publish, tenant, run_id,
                                         after_owner=crash_after_five)
        # the first batch (3 owners) is done: the cursor is on its last owner
        [row] = await server.sql("SELECT last_account_id, status FROM bill_runs WHERE id = "
                                 "CAST(:r AS uuid)", r=run["id"])
        assert (row["last_account_id"], row["status"]) == (
            sorted(uuid.UUID(o) for o in owners)[2], "RUNNING")
        await bill_runs.run_bill_run(state, state.events.publish, tenant, run_id)
    done = await get(client, run["id"])
    assert done == {**done, "status": "COMPLETED", "accountsTotal": OWNERS,
                    "accountsProcessed": OWNERS, "invoicesCreated": OWNERS,
                    "totalAmount": "200.00"}
    await assert_billed_exactly_once(server, client, owners)


async def test_a_run_stopped_after_a_write_batch_committed_resumes_without_billing_it_again(
        server: LiveServer, client: Client, owners: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bill_runs, "WRITE_OWNERS", 4)  # 10 owners: write batches of 4, 4, 2
    monkeypatch.setattr(bill_runs, "CONCURRENCY", 1)
    run = await start(client, "2026-02-01")
    run_id, tenant = uuid.UUID(run["id"]), uuid.UUID(client.tenant_id)

    async def crash_after_the_first_write_batch(owner: uuid.UUID) -> None:
        raise Crash  # its 4 invoices are committed; the cursor has not moved

    async with worker_state(server) as state:
        with pytest.raises(Crash):
            await bill_runs.run_bill_run(state, state.events.publish, tenant, run_id,
                                         after_owner=crash_after_the_first_write_batch)
        during = await get(client, run["id"])
        assert (during["status"], during["accountsProcessed"], during["invoicesCreated"],
                during["totalAmount"]) == ("RUNNING", 4, 4, "80.00")  # 4 x (Jan + Feb)
        [row] = await server.sql("SELECT last_account_id FROM bill_runs WHERE id = "
                                 "CAST(:r AS uuid)", r=run["id"])
        assert row["last_account_id"] is None
        assert len(await ledger(server, client.tenant_id)) == 4 * 2
        await bill_runs.run_bill_run(state, state.events.publish, tenant, run_id)
    done = await get(client, run["id"])
    assert done == {**done, "status": "COMPLETED", "accountsTotal": OWNERS,
                    "accountsProcessed": OWNERS, "invoicesCreated": OWNERS,
                    "totalAmount": "200.00", "errors": []}
    await assert_billed_exactly_once(server, client, owners)
