"""createOrderAsync and the job runner: success, coded failures, limits, idempotency,
reclaiming abandoned jobs, and lost claims that must not commit."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from billgraph.bootstrap import job_kinds
from billgraph.config import Settings
from billgraph.db.engine import make_engine
from billgraph.events import EventHub
from billgraph.services import jobs, orders
from billgraph.services.billing_terms import BillingTermsInput, PlanRef
from billgraph.state import AppState
from billgraph.workers import jobs as runner
from billgraph.workers.orders import run_order
from tests.api.order_support import (
    catalog,
    contracted_mrr,
    create_account,
    create_action,
    entry,
    order,
    row_counts,
    terms,
)
from tests.support import Client, LiveServer, start_server

JOB = """id kind status createdAt finishedAt errors { code message field }
  order { orderNumber subscriptions { subscription { subscriptionNumber mrr } } }"""
CREATE_ASYNC = f"""mutation($input: CreateOrderInput!, $key: String) {{
  createOrderAsync(input: $input, idempotencyKey: $key) {{ {JOB} }} }}"""
GET_JOB = f"query($id: ID!) {{ job(id: $id) {{ {JOB} }} }}"


@pytest.fixture
async def worker_server(database_url: str) -> AsyncIterator[LiveServer]:
    async with start_server(database_url, run_workers=True, worker_tick_seconds=0.1) as live:
        yield live


@pytest.fixture
async def worker_client(worker_server: LiveServer) -> AsyncIterator[Client]:
    async with worker_server.new_tenant(f"tenant-{uuid.uuid4().hex[:8]}") as c:
        yield c


async def finished(client: Client, job_id: str, seconds: float = 20) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        while True:
            job = (await client.gql(GET_JOB, {"id": job_id}))["job"]
            if job["status"] in ("SUCCEEDED", "FAILED"):
                return dict(job)
            await asyncio.sleep(0.05)


async def test_async_order_succeeds(worker_server: LiveServer, worker_client: Client) -> None:
    client = worker_client
    await catalog(client)
    account = await create_account(client)
    # more than a synchronous order may carry
    queued = (await client.gql(CREATE_ASYNC, {"input": order(
        account, *[entry(create_action())] * 60)}))["createOrderAsync"]
    assert queued["kind"] == "order"
    assert queued["status"] in ("PENDING", "RUNNING")
    assert queued["order"] is None and queued["errors"] == []
    job = await finished(client, queued["id"])
    assert job["status"] == "SUCCEEDED", job
    assert job["errors"] == [] and job["finishedAt"] >= job["createdAt"]
    assert job["order"]["orderNumber"].startswith("O")
    assert len(job["order"]["subscriptions"]) == 60
    assert await contracted_mrr(client, account) == "1200.00"
    [row] = await worker_server.sql("SELECT attempt, order_id FROM jobs WHERE id = :id",
                                    id=queued["id"])
    assert row["attempt"] == 1 and row["order_id"] is not None


async def test_async_order_fails_with_coded_errors(worker_server: LiveServer,
                                                   worker_client: Client) -> None:
    client = worker_client
    await catalog(client)
    account = await create_account(client)
    queued = (await client.gql(CREATE_ASYNC, {"input": order(
        account, entry(create_action()),
        entry(create_action(billingTerms=terms(pricePlan={"code": "NOPE"}))))}))
    job = await finished(client, queued["createOrderAsync"]["id"])
    assert job["status"] == "FAILED"
    assert job["order"] is None
    [error] = job["errors"]
    assert error["code"] == "BAD_USER_INPUT"
    assert error["field"] == "subscriptions[1].actions[0].billingTerms.pricePlan.code"
    assert error["field"] in error["message"]
    assert set((await row_counts(worker_server, client)).values()) == {0}
    binding = (await client.gql(CREATE_ASYNC, {"input": order(account, entry(
        {"type": "SUSPEND"}, number="S-UNKNOWN"))}))["createOrderAsync"]
    assert (await finished(client, binding["id"]))["errors"][0]["code"] == "NOT_FOUND"


async def test_async_limits_answer_at_once(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    for subscriptions, actions in ((301, 1), (1, 301), (151, 2)):
        error = await client.error(CREATE_ASYNC, {"input": order(
            account, *[entry(*[create_action()] * actions)] * subscriptions)})
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "subscriptions"}
    assert await server.sql("SELECT 1 FROM jobs WHERE tenant_id = :t", t=client.tenant_id) == []


async def test_async_order_idempotency(server: LiveServer, client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    input = order(account, entry(create_action()))
    first = (await client.gql(CREATE_ASYNC, {"input": input, "key": "async-1"}))
    again = (await client.gql(CREATE_ASYNC, {"input": input, "key": "async-1"}))
    assert again["createOrderAsync"]["id"] == first["createOrderAsync"]["id"]
    reused = await client.error(CREATE_ASYNC, {"input": {**input, "orderNumber": "X"},
                                               "key": "async-1"})
    assert reused["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(await server.sql("SELECT 1 FROM jobs WHERE tenant_id = :t", t=client.tenant_id)) == 1
    racing = await asyncio.gather(*(client.post(CREATE_ASYNC, {"input": input, "key": "async-2"})
                                    for _ in range(6)))
    bodies = [r.json() for r in racing]
    ids = {b["data"]["createOrderAsync"]["id"] for b in bodies if b.get("data")}
    codes = {b["errors"][0]["extensions"]["code"] for b in bodies if b.get("errors")}
    assert len(ids) == 1 and codes <= {"IDEMPOTENCY_KEY_IN_USE"}
    assert len(await server.sql("SELECT 1 FROM jobs WHERE tenant_id = :t", t=client.tenant_id)) == 2


async def test_unknown_job_is_not_found(client: Client) -> None:
    for job_id in (str(uuid.uuid4()), "garbage"):
        error = await client.error(GET_JOB, {"id": job_id})
        assert error["extensions"]["code"] == "NOT_FOUND"


async def insert_job(server: LiveServer, client: Client, account: str, *, status: str,
                     attempt: int, heartbeat: str) -> str:
    """A job row as a worker left it: claimed `attempt` times, last heartbeat `heartbeat` ago."""
    job_id = str(uuid.uuid4())
    data = orders.OrderInput(account_id=account, order_date=dt.date(2026, 1, 1), subscriptions=[
        orders.SubscriptionInput(actions=[orders.ActionInput(
            type="CREATE_SUBSCRIPTION", billing_terms=BillingTermsInput(
                price_plan=PlanRef(code="BASIC"), agreement_date=dt.date(2026, 1, 1),
                billing_frequency="MONTHLY"))])])
    await server.sql(
        "INSERT INTO jobs (tenant_id, id, kind, status, payload, errors, attempt, heartbeat_at, "
        f"started_at) VALUES (:t, :id, 'order', :status, CAST(:p AS jsonb), '[]', :attempt, "
        f"now() - interval '{heartbeat}', now() - interval '{heartbeat}')",
        t=client.tenant_id, id=job_id, status=status, attempt=attempt,
        p=json.dumps({"input": orders.to_json(data)}))
    return job_id


async def test_an_abandoned_job_is_claimed_again(worker_server: LiveServer,
                                                 worker_client: Client) -> None:
    client = worker_client
    await catalog(client)
    account = await create_account(client)
    abandoned = await insert_job(worker_server, client, account, status="RUNNING", attempt=1,
                                 heartbeat="10 minutes")
    alive = await insert_job(worker_server, client, account, status="RUNNING", attempt=1,
                             heartbeat="1 second")
    job = await finished(client, abandoned)
    assert job["status"] == "SUCCEEDED" and len(job["order"]["subscriptions"]) == 1
    [row] = await worker_server.sql("SELECT attempt FROM jobs WHERE id = :id", id=abandoned)
    assert row["attempt"] == 2
    await asyncio.sleep(0.5)  # several ticks: a job with a live heartbeat is left alone
    [row] = await worker_server.sql("SELECT status, attempt FROM jobs WHERE id = :id", id=alive)
    assert (row["status"], row["attempt"]) == ("RUNNING", 1)
    assert (await row_counts(worker_server, client))["orders"] == 1
    assert await contracted_mrr(client, account) == "20.00"


async def test_a_lost_claim_commits_nothing(server: LiveServer, client: Client) -> None:
    """A worker whose job was claimed again (its lease ran out) rolls its work back."""
    await catalog(client)
    account = await create_account(client)
    queued = (await client.gql(CREATE_ASYNC, {"input": order(account, entry(create_action()))}))
    job_id = queued["createOrderAsync"]["id"]
    engine = make_engine(server.database_url, pool_size=2, max_overflow=0)
    state = AppState(settings=Settings(database_url=server.database_url), engine=engine,
                     events=EventHub())
    try:
        async with engine.begin() as conn:
            job = await jobs.claim(conn, "test-worker", runner.LEASE_SECONDS,
                                   tenant_id=client.tenant_id)
        assert job is not None and str(job["id"]) == job_id and job["attempt"] == 1
        await server.sql("UPDATE jobs SET attempt = 2, claimed_by = 'other' WHERE id = :id",
                         id=job_id)
        with pytest.raises(jobs.LostClaim):
            await run_order(state, job)
        # the runner drops it: no FAILED, no SUCCEEDED
        await runner.run_job(state, job, job_kinds())
    finally:
        await engine.dispose()
    [row] = await server.sql("SELECT status, attempt, claimed_by FROM jobs WHERE id = :id",
                             id=job_id)
    assert (row["status"], row["attempt"], row["claimed_by"]) == ("RUNNING", 2, "other")
    assert set((await row_counts(server, client)).values()) == {0}


async def test_a_job_of_an_unknown_kind_fails(worker_server: LiveServer,
                                              worker_client: Client) -> None:
    await worker_server.sql(
        "INSERT INTO jobs (tenant_id, id, kind, status, payload, errors, attempt) "
        "VALUES (:t, gen_random_uuid(), 'mystery', 'PENDING', '{}', '[]', 0)",
        t=worker_client.tenant_id)
    async with asyncio.timeout(10):
        while True:
            [row] = await worker_server.sql(
                "SELECT status, errors FROM jobs WHERE tenant_id = :t AND kind = 'mystery'",
                t=worker_client.tenant_id)
            if row["status"] == "FAILED":
                break
            await asyncio.sleep(0.05)
    assert row["errors"][0]["code"] == "INTERNAL"
