"""A job whose worker process keeps dying is given up after `job_max_attempts` claims."""

from __future__ import annotations

import pytest

from billgraph.bootstrap import job_kinds
from billgraph.workers.jobs import run_job
from tests.api.bill_run_support import (
    account,
    bill,
    claim_jobs,
    get,
    invoices,
    plan,
    start,
    subscribe,
    worker_state,
)
from tests.support import Client, LiveServer


async def die_in_every_attempt(server: LiveServer, bill_run_id: str, attempts: int) -> None:
    """The job as `attempts` workers left it: each claimed it and died (no heartbeat since)."""
    await server.sql("UPDATE jobs SET status = 'RUNNING', attempt = :n, "
                     "heartbeat_at = now() - interval '10 minutes' WHERE bill_run_id = :run",
                     n=attempts, run=bill_run_id)


async def test_a_bill_run_whose_worker_keeps_dying_fails_and_the_next_run_bills_it(
        client: Client, server: LiveServer) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    customer = await account(client, "Customer")
    await subscribe(client, customer, "2026-01-01")
    run = await start(client, "2026-01-01")
    async with worker_state(server) as state:
        limit = state.settings.job_max_attempts
        await die_in_every_attempt(server, run["id"], limit)
        # one claim too many: given up, not run
        [job] = await claim_jobs(state, 1, client.tenant_id)
        assert job["attempt"] == limit + 1
        await run_job(state, job, job_kinds())
    [row] = await server.sql("SELECT status, errors FROM jobs WHERE id = :id", id=job["id"])
    assert row["status"] == "FAILED"
    [error] = row["errors"]
    assert error["code"] == "INTERNAL"
    assert f"given up after {limit} attempts" in error["message"]
    failed = await get(client, run["id"])
    assert failed["status"] == "FAILED" and failed["finishedAt"] is not None
    assert [(e["code"], e["message"]) for e in failed["errors"]] == [
        ("INTERNAL", error["message"])]
    assert await invoices(client, customer) == []
    # nothing was lost: the next run bills the period
    again = await bill(client, server, "2026-01-01")
    assert (again["status"], again["invoicesCreated"], again["totalAmount"]) == (
        "COMPLETED", 1, "10.00")


@pytest.mark.parametrize("deaths", ["limit - 1", "limit"])
async def test_an_order_job_is_run_up_to_the_limit_then_failed_with_nothing_written(
        client: Client, server: LiveServer, deaths: str) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    customer = await account(client, "Customer")
    queued = await client.gql(
        "mutation($input: CreateOrderInput!) { createOrderAsync(input: $input) { id } }",
        {"input": {"accountId": customer, "orderDate": "2026-01-01", "subscriptions": [
            {"actions": [{"type": "CREATE_SUBSCRIPTION", "effectiveDate": "2026-01-01",
                          "billingTerms": {"pricePlan": {"code": "PLAN"},
                                           "agreementDate": "2026-01-01",
                                           "billingFrequency": "MONTHLY"}}]}]}})
    job_id = queued["createOrderAsync"]["id"]
    async with worker_state(server) as state:
        limit = state.settings.job_max_attempts
        attempts = limit - 1 if deaths == "limit - 1" else limit
        await server.sql("UPDATE jobs SET status = 'RUNNING', attempt = :n, "
                         "heartbeat_at = now() - interval '10 minutes' WHERE id = :id",
                         n=attempts, id=job_id)
        [job] = await claim_jobs(state, 1, client.tenant_id)
        await run_job(state, job, job_kinds())
    data = await client.gql("query($id: ID!) { job(id: $id) { status order { id } "
                            "errors { code message } } }", {"id": job_id})
    [row] = await server.sql("SELECT count(*) AS n FROM subscriptions WHERE tenant_id = :t",
                             t=client.tenant_id)
    if attempts < limit:  # the last allowed attempt runs the job
        assert data["job"]["status"] == "SUCCEEDED" and data["job"]["order"] is not None
        assert row["n"] == 1
    else:
        assert data["job"]["status"] == "FAILED" and data["job"]["order"] is None
        assert data["job"]["errors"][0]["code"] == "INTERNAL"
        assert row["n"] == 0
