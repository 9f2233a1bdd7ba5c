"""Bill run tests: catalog and subscriptions through the API, jobs run in-process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import RowMapping

from billgraph.bootstrap import job_kinds
from billgraph.config import Settings
from billgraph.db.engine import make_engine
from billgraph.events import EventHub
from billgraph.services import jobs
from billgraph.state import AppState
from billgraph.workers.jobs import run_job
from tests.support import Client, GraphQLErrors, LiveServer

BILL_RUN = """id status targetDate invoiceDate accountsTotal accountsProcessed invoicesCreated
  totalAmount createdAt finishedAt errors { code message }"""
START = f"""mutation($input: BillRunInput!, $key: String) {{
  billRun(input: $input, idempotencyKey: $key) {{ {BILL_RUN} }} }}"""
GET = f"query($id: ID!) {{ billRun(id: $id) {{ {BILL_RUN} }} }}"
INVOICES = """query($id: ID!) { invoices(first: 100, filter: {accountId: $id}) { edges { node {
  id invoiceNumber invoiceDate dueDate status amount balance currency billRun { id }
  lines { description quantity unitPrice amount servicePeriodStart servicePeriodEnd } } } } }"""
ORDER = """mutation($input: CreateOrderInput!) { createOrder(input: $input) {
  subscriptions { subscription { subscriptionNumber
    items { id product { code } startDate endDate } } } } }"""


async def account(client: Client, name: str, **extra: Any) -> str:
    data = await client.gql("mutation($input: CreateAccountInput!) { createAccount(input: $input) "
                            "{ id } }", {"input": {"name": name, **extra}})
    return str(data["createAccount"]["id"])


async def plan(client: Client, code: str, *charges: tuple[str, str, str, str],
               currency: str | None = None) -> None:
    """A price plan with charges (product code, charge type, price, price period); the
    products are created as needed."""
    have = {p["code"] for p in (await client.gql("{ products { code } }"))["products"]}
    for product, *_ in charges:
        if product not in have:
            await client.gql("mutation($i: CreateProductInput!) { createProduct(input: $i) "
                             "{ id } }", {"i": {"code": product, "name": product.title()}})
            have.add(product)
    extra = {"currency": currency} if currency else {}
    await client.gql(
        "mutation($i: CreatePricePlanInput!) { createPricePlan(input: $i) { id } }",
        {"i": {"code": code, "name": code, **extra, "charges": [
            {"productCode": p, "chargeType": t, "price": price, "pricePeriod": period}
            for p, t, price, period in charges]}})


async def order(client: Client, account_id: str, subscription: str | None,
                *actions: dict[str, Any], order_date: str | None = None) -> dict[str, Any]:
    """One order on one subscription (None: a new one); the subscription as it is after."""
    entry: dict[str, Any] = {"actions": list(actions)}
    if subscription is not None:
        entry["subscriptionNumber"] = subscription
    data = await client.gql(ORDER, {"input": {
        "accountId": account_id, "orderDate": order_date or actions[0]["effectiveDate"],
        "subscriptions": [entry]}})
    return dict(data["createOrder"]["subscriptions"][0]["subscription"])


async def subscribe(client: Client, owner: str, start: str, *, plan_code: str = "PLAN",
                    invoice_owner: str | None = None, frequency: str | None = "MONTHLY",
                    cycle_day: int | None = None, items: list[dict[str, Any]] | None = None,
                    **terms: Any) -> dict[str, Any]:
    billing_terms: dict[str, Any] = {"pricePlan": {"code": plan_code}, "agreementDate": start,
                                     **terms}
    if frequency is not None:
        billing_terms["billingFrequency"] = frequency
    if cycle_day is not None:
        billing_terms["billingCycleDay"] = cycle_day
    action: dict[str, Any] = {"type": "CREATE_SUBSCRIPTION", "effectiveDate": start,
                              "subscriptionOwnerAccountId": owner, "billingTerms": billing_terms}
    if invoice_owner is not None:
        action["invoiceOwnerAccountId"] = invoice_owner
    if items is not None:
        action["items"] = items
    return await order(client, owner, None, action)


@contextlib.asynccontextmanager
async def worker_state(server: LiveServer) -> AsyncIterator[AppState]:
    """What a `billgraph worker` process holds, on the test's database."""
    settings = Settings(database_url=server.database_url, run_workers=False)
    engine = make_engine(server.database_url, pool_size=10, max_overflow=10)
    try:
        yield AppState(settings=settings, engine=engine, events=EventHub())
    finally:
        await engine.dispose()


async def claim_jobs(state: AppState, n: int | None, tenant_id: str) -> list[RowMapping]:
    """Claim up to `n` jobs of the tenant (the test's own: on Citus the database is shared)."""
    claimed: list[RowMapping] = []
    while n is None or len(claimed) < n:
        async with state.engine.begin() as conn:
            job = await jobs.claim(conn, "test-worker", 60.0, tenant_id=tenant_id)
        if job is None:
            break
        claimed.append(job)
    return claimed


async def run_jobs(server: LiveServer, tenant_id: str) -> int:
    """Run every queued job of the tenant in-process, one after the other, as the job
    runner would."""
    async with worker_state(server) as state:
        done = 0
        while claimed := await claim_jobs(state, 1, tenant_id):
            await run_job(state, claimed[0], job_kinds())
            done += 1
        return done


async def start(client: Client, target: str, **extra: Any) -> dict[str, Any]:
    data = await client.gql(START, {"input": {"targetDate": target, **extra}})
    return dict(data["billRun"])


async def get(client: Client, run_id: str) -> dict[str, Any]:
    return dict((await client.gql(GET, {"id": run_id}))["billRun"])


async def bill(client: Client, server: LiveServer, target: str, *, check_preview: bool = True,
               **extra: Any) -> dict[str, Any]:
    """Start a bill run, run the queued jobs, and return the run as it finished.

    First (unless `check_preview=False`) billingPreview with the same input, which must
    write nothing; a run that completes must have created exactly the previewed invoices
    (tests/api/preview_support.py)."""
    from tests.api.preview_support import assert_run_matches, preview_unwritten

    preview: list[dict[str, Any]] | None = None
    failed: GraphQLErrors | None = None
    if check_preview:
        try:
            preview = await preview_unwritten(client, server, target, **extra)
        except GraphQLErrors as errors:  # then the run must fail too (or refuse to start)
            failed = errors
    run = await start(client, target, **extra)
    assert run["status"] == "PENDING"
    await run_jobs(server, client.tenant_id)
    finished = await get(client, run["id"])
    if finished["status"] == "COMPLETED":
        assert failed is None, f"billingPreview failed where the bill run did not: {failed}"
        if preview is not None:
            await assert_run_matches(server, client, finished, preview)
    return finished


async def invoices(client: Client, account_id: str) -> list[dict[str, Any]]:
    data = await client.gql(INVOICES, {"id": account_id})
    return [e["node"] for e in data["invoices"]["edges"]]


def lines(invoice: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(description, start, end, amount) of each line."""
    return [(ln["description"], ln["servicePeriodStart"], ln["servicePeriodEnd"], ln["amount"])
            for ln in invoice["lines"]]


async def ledger(server: LiveServer, tenant_id: str) -> list[RowMapping]:
    """Every ledger entry of the tenant, by item and period."""
    return await server.sql(
        "SELECT item_id, period_start, revision, amount FROM billing_ledger WHERE tenant_id = :t "
        "ORDER BY item_id, period_start, revision", t=tenant_id)


async def transactions_of(server: LiveServer, run_id: str) -> list[int]:
    """How many of the run's invoices each transaction wrote (invoices of one transaction
    share their xmin), largest first."""
    rows = await server.sql(
        "SELECT count(*) AS n FROM invoices WHERE bill_run_id = CAST(:r AS uuid) "
        "GROUP BY xmin::text ORDER BY n DESC", r=run_id)
    return [int(r["n"]) for r in rows]
