"""Two bill runs at the same time never bill an (item, period) twice."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from decimal import Decimal

import pytest

from billgraph.bootstrap import job_kinds
from billgraph.services.billing import bill_runs
from billgraph.workers.jobs import run_job
from tests.api.bill_run_support import (
    account,
    claim_jobs,
    get,
    invoices,
    ledger,
    plan,
    start,
    subscribe,
    worker_state,
)
from tests.support import Client, LiveServer

OWNERS = 12


async def test_two_concurrent_runs_bill_each_period_exactly_once(
        client: Client, server: LiveServer) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
               ("DESK", "RECURRING", "4.50", "MONTHLY"))
    owners = [await account(client, f"Owner {n}") for n in range(OWNERS)]
    for owner in owners:
        await subscribe(client, owner, "2026-01-01")
    first = await start(client, "2026-03-01")
    second = await start(client, "2026-03-01")
    async with worker_state(server) as state:
        jobs = await claim_jobs(state, 2, client.tenant_id)
        assert len(jobs) == 2
        # both runs bill the same owners in the same order, at the same time
        await asyncio.gather(*(run_job(state, job, job_kinds()) for job in jobs))
    runs = [await get(client, first["id"]), await get(client, second["id"])]
    assert [r["status"] for r in runs] == ["COMPLETED", "COMPLETED"]
    assert [r["accountsProcessed"] for r in runs] == [OWNERS, OWNERS]
    # 3 periods (Jan, Feb, Mar) x (10.00 + 4.50) = 43.50 per owner, billed once in all
    assert sum(r["invoicesCreated"] for r in runs) == OWNERS
    assert sum(Decimal(r["totalAmount"]) for r in runs) == OWNERS * Decimal("43.50")
    entries = await ledger(server, client.tenant_id)
    assert len(entries) == OWNERS * 2 * 3
    assert Counter((e["item_id"], e["period_start"]) for e in entries).most_common(1)[0][1] == 1
    assert {e["revision"] for e in entries} == {1}
    for owner in owners:
        [invoice] = await invoices(client, owner)
        assert invoice["amount"] == "43.50" and len(invoice["lines"]) == 6


async def test_concurrent_runs_of_overlapping_targets_add_up(
        client: Client, server: LiveServer) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    owners = [await account(client, f"Owner {n}") for n in range(OWNERS)]
    for owner in owners:
        await subscribe(client, owner, "2026-01-01")
    runs = [await start(client, target) for target in ("2026-01-01", "2026-02-01", "2026-03-01")]
    tenant = uuid.UUID(client.tenant_id)
    async with worker_state(server) as state:
        # the service directly, three at once (as three workers would)
        await asyncio.gather(*(bill_runs.run_bill_run(state, state.events.publish, tenant,
                                                      uuid.UUID(run["id"]))
                               for run in runs))
    done = [await get(client, run["id"]) for run in runs]
    assert {r["status"] for r in done} == {"COMPLETED"}
    # whatever the interleaving: Jan, Feb and Mar billed once per owner
    assert sum(Decimal(r["totalAmount"]) for r in done) == OWNERS * Decimal("30.00")
    entries = await ledger(server, client.tenant_id)
    assert len(entries) == OWNERS * 3 and {e["revision"] for e in entries} == {1}
    for owner in owners:
        billed = sum(Decimal(i["amount"]) for i in await invoices(client, owner))
        assert billed == Decimal("30.00")


async def test_a_run_writing_from_stale_facts_collides_and_recomputes(
        client: Client, server: LiveServer, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Run B reads the facts of all owners, bills the first few (one per concurrent
    transaction) and waits; run A then bills the rest. B goes on with what it read
    before A billed: every write collides on the ledger key, B recomputes the owner
    from fresh facts and finds nothing new. (Write batches of one owner: each owner in
    its own transaction, as a write batch that failed is billed; test_bill_run_batches
    has the collision of a whole write batch.)"""
    monkeypatch.setattr(bill_runs, "WRITE_OWNERS", 1)
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    owners = [await account(client, f"Owner {n}") for n in range(OWNERS)]
    for owner in owners:
        await subscribe(client, owner, "2026-01-01")
    run_a, run_b = await start(client, "2026-01-01"), await start(client, "2026-01-01")
    tenant = uuid.UUID(client.tenant_id)
    first = bill_runs.CONCURRENCY  # B's side-by-side transactions each bill one owner
    b_billed: list[uuid.UUID] = []
    b_waits, a_done = asyncio.Event(), asyncio.Event()

    async def hold(owner: uuid.UUID) -> None:
        b_billed.append(owner)
        if len(b_billed) == first:
            b_waits.set()
        await a_done.wait()

    caplog.set_level(logging.INFO, logger="billgraph.services.billing.bill_runs")
    async with worker_state(server) as state:
        b = asyncio.create_task(bill_runs.run_bill_run(
            state, state.events.publish, tenant, uuid.UUID(run_b["id"]), after_owner=hold))
        await asyncio.wait_for(b_waits.wait(), 30)
        await bill_runs.run_bill_run(state, state.events.publish, tenant, uuid.UUID(run_a["id"]))
        a_done.set()
        await asyncio.wait_for(b, 30)
    a, b_run = await get(client, run_a["id"]), await get(client, run_b["id"])
    assert (b_run["status"], b_run["accountsProcessed"], b_run["invoicesCreated"]) == (
        "COMPLETED", OWNERS, first)
    assert (a["status"], a["accountsProcessed"], a["invoicesCreated"]) == (
        "COMPLETED", OWNERS, OWNERS - first)
    recomputed = [r for r in caplog.records if "recomputing account" in r.getMessage()]
    assert len(recomputed) == OWNERS - first
    entries = await ledger(server, client.tenant_id)
    assert len(entries) == OWNERS and {e["revision"] for e in entries} == {1}
