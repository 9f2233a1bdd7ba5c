"""The billRun mutation and query: validation, progress, posting, exactly-once reruns."""

from __future__ import annotations

import uuid

import pytest

from billgraph.services.billing import facts
from tests.api.bill_run_support import (
    GET,
    START,
    account,
    bill,
    get,
    invoices,
    ledger,
    lines,
    plan,
    run_jobs,
    start,
    subscribe,
)
from tests.support import Client, LiveServer

METRICS = "query($id: ID!) { metrics(accountId: $id) { balance totalInvoiceBalance " \
          "lastInvoiceDate } }"


@pytest.fixture
async def seat(client: Client) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))


async def test_spec_example_bills_in_advance_with_a_prorated_first_period(
        client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    sub = await subscribe(client, customer, "2026-01-03", cycle_day=15)
    number = sub["subscriptionNumber"]
    run = await start(client, "2026-03-01")
    # returned at once, before anything is billed
    assert run["status"] == "PENDING" and run["invoiceDate"] == "2026-03-01"
    assert (run["accountsProcessed"], run["invoicesCreated"], run["totalAmount"]) == (0, 0, "0")
    assert run["finishedAt"] is None and run["errors"] == []
    assert await run_jobs(server, client.tenant_id) == 1
    run = await get(client, run["id"])
    # 2025-12-15..2026-01-14 has 31 days, 12 of them served: 10.00 x 12/31 = 3.87; then the
    # periods from Jan 15 and Feb 15 (both start by the target) at 10.00: 23.87 in all.
    assert run == {**run, "status": "COMPLETED", "accountsTotal": 1, "accountsProcessed": 1,
                   "invoicesCreated": 1, "totalAmount": "23.87", "errors": []}
    assert run["finishedAt"]
    [invoice] = await invoices(client, customer)
    assert lines(invoice) == [
        (f"Seat ({number})", "2026-01-03", "2026-01-14", "3.87"),
        (f"Seat ({number})", "2026-01-15", "2026-02-14", "10.00"),
        (f"Seat ({number})", "2026-02-15", "2026-03-14", "10.00"),
    ]
    assert [(ln["quantity"], ln["unitPrice"]) for ln in invoice["lines"]] == [("1", "10.00")] * 3
    assert invoice == {**invoice, "status": "POSTED", "amount": "23.87", "balance": "23.87",
                       "currency": "USD", "invoiceDate": "2026-03-01", "dueDate": "2026-03-01",
                       "billRun": {"id": run["id"]}}
    assert invoice["invoiceNumber"].startswith("INV") and len(invoice["invoiceNumber"]) == 11
    # posting changed the invoice owner's metrics (a non-partner account: at once)
    metrics = (await client.gql(METRICS, {"id": customer}))["metrics"]
    assert metrics == {"balance": "23.87", "totalInvoiceBalance": "23.87",
                       "lastInvoiceDate": "2026-03-01"}


async def test_the_same_run_twice_bills_nothing_new(
        client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    await subscribe(client, customer, "2026-01-01")
    first = await bill(client, server, "2026-02-01")
    assert (first["invoicesCreated"], first["totalAmount"]) == (1, "20.00")  # Jan + Feb
    entries = await ledger(server, client.tenant_id)
    again = await bill(client, server, "2026-02-01")
    assert again == {**again, "status": "COMPLETED", "accountsProcessed": 1,
                     "invoicesCreated": 0, "totalAmount": "0"}
    assert len(await invoices(client, customer)) == 1
    assert await ledger(server, client.tenant_id) == entries
    # a later target bills only the new period
    later = await bill(client, server, "2026-03-01")
    assert (later["invoicesCreated"], later["totalAmount"]) == (1, "10.00")
    newest = (await invoices(client, customer))[-1]
    assert [(s, e, a) for _, s, e, a in lines(newest)] == [
        ("2026-03-01", "2026-03-31", "10.00")]


async def test_auto_post_false_leaves_drafts_and_metrics_alone(
        client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    await subscribe(client, customer, "2026-01-01")
    run = await bill(client, server, "2026-01-01", autoPost=False, invoiceDate="2026-01-05")
    assert run["invoiceDate"] == "2026-01-05"
    [invoice] = await invoices(client, customer)
    assert (invoice["status"], invoice["amount"], invoice["invoiceDate"]) == (
        "DRAFT", "10.00", "2026-01-05")
    metrics = (await client.gql(METRICS, {"id": customer}))["metrics"]
    assert metrics == {"balance": "0.00", "totalInvoiceBalance": "0.00", "lastInvoiceDate": None}
    # a draft is billed: the next run does not bill the period again
    assert (await bill(client, server, "2026-01-01"))["invoicesCreated"] == 0


async def test_a_canceled_invoice_is_billed_again_by_the_next_run(
        client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    await subscribe(client, customer, "2026-01-01")
    await bill(client, server, "2026-01-01")
    [first] = await invoices(client, customer)
    await client.gql("mutation($id: ID!) { cancelInvoice(id: $id) { status } }",
                     {"id": first["id"]})
    again = await bill(client, server, "2026-01-01")
    assert (again["invoicesCreated"], again["totalAmount"]) == (1, "10.00")
    second = (await invoices(client, customer))[-1]
    assert (second["status"], second["amount"]) == ("POSTED", "10.00")
    # ledger: revision 1 (canceled invoice) and revision 2 (the new one)
    assert [(e["revision"], str(e["amount"])) for e in await ledger(server, client.tenant_id)] \
        == [(1, "10.00"), (2, "10.00")]


async def test_account_ids_limit_the_run(client: Client, server: LiveServer, seat: None) -> None:
    one, two = await account(client, "One"), await account(client, "Two")
    await subscribe(client, one, "2026-01-01")
    await subscribe(client, two, "2026-01-01")
    other = await account(client, "No subscriptions")
    run = await bill(client, server, "2026-01-01", accountIds=[two, other, two])
    assert (run["accountsTotal"], run["accountsProcessed"], run["invoicesCreated"]) == (2, 2, 1)
    assert await invoices(client, one) == []
    assert len(await invoices(client, two)) == 1
    # without accountIds: every invoice owner (the account without subscriptions is not one)
    everyone = await bill(client, server, "2026-01-01")
    assert (everyone["accountsTotal"], everyone["invoicesCreated"]) == (2, 1)
    assert len(await invoices(client, one)) == 1


async def test_validation_names_the_field(client: Client, server: LiveServer) -> None:
    known = await account(client, "Known")
    missing = str(uuid.uuid4())
    error = await client.error(START, {"input": {"targetDate": "2026-01-01",
                                                 "accountIds": [known, missing]}})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "accountIds[1]"}
    error = await client.error(START, {"input": {"targetDate": "2026-01-01",
                                                 "accountIds": ["not-an-id"]}})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "accountIds[0]"}
    error = await client.error(START, {"input": {"targetDate": "2026-01-01", "accountIds": []}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "accountIds"}
    error = await client.error(START, {"input": {"invoiceDate": "2026-01-01"}})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "targetDate" in error["message"]
    # an account of another tenant does not exist here
    async with server.new_tenant("other") as other:
        foreign = await account(other, "Foreign")
        error = await other.error(GET, {"id": str(uuid.uuid4())})
        assert error["extensions"] == {"code": "NOT_FOUND", "field": "id"}
    error = await client.error(START, {"input": {"targetDate": "2026-01-01",
                                                 "accountIds": [foreign]}})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "accountIds[0]"}
    t = client.tenant_id
    assert await server.sql("SELECT id FROM bill_runs WHERE tenant_id = :t", t=t) == []
    assert await server.sql("SELECT id FROM jobs WHERE tenant_id = :t", t=t) == []


async def test_a_bill_run_of_another_tenant_is_not_found(
        client: Client, server: LiveServer) -> None:
    run = await start(client, "2026-01-01")
    async with server.new_tenant("other") as other:
        error = await other.error(GET, {"id": run["id"]})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "id"}


async def test_idempotency_key_starts_one_run(client: Client, server: LiveServer) -> None:
    variables = {"input": {"targetDate": "2026-01-01"}, "key": "run-2026-01"}
    first = (await client.gql(START, variables))["billRun"]
    second = (await client.gql(START, variables))["billRun"]
    assert first["id"] == second["id"]
    assert len(await server.sql("SELECT id FROM jobs WHERE tenant_id = :t AND kind = 'bill_run'",
                                t=client.tenant_id)) == 1
    error = await client.error(START, {"input": {"targetDate": "2026-02-01"},
                                       "key": "run-2026-01"})
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_a_read_key_cannot_start_a_run(client: Client, server: LiveServer) -> None:
    read_key = await server.create_key(client.tenant_id, "read")
    error = await client.error(START, {"input": {"targetDate": "2026-01-01"}}, key=read_key)
    assert error["extensions"]["code"] == "FORBIDDEN"


async def test_a_subscription_that_cannot_be_billed_is_reported_and_the_rest_billed(
        client: Client, server: LiveServer, seat: None) -> None:
    settings = "mutation($p: [CustomPeriodInput!]) { updateTenantSettings(input: " \
               "{customPeriods: $p}) { id } }"
    await client.gql(settings, {"p": [{"name": "CUSTOM1", "unit": "MONTH", "count": 2}]})
    customer = await account(client, "Customer")
    broken = await subscribe(client, customer, "2026-01-01", frequency="CUSTOM1")
    fine = await subscribe(client, customer, "2026-01-01")
    await client.gql(settings, {"p": []})  # CUSTOM1 is no longer defined
    run = await bill(client, server, "2026-01-01")
    assert (run["status"], run["invoicesCreated"], run["totalAmount"]) == (
        "COMPLETED", 1, "10.00")
    assert run["errors"] == [{"code": "BAD_USER_INPUT", "message": (
        f"subscription {broken['subscriptionNumber']}: custom period CUSTOM1 is not "
        "defined for this tenant")}]
    [invoice] = await invoices(client, customer)
    assert [d for d, *_ in lines(invoice)] == [f"Seat ({fine['subscriptionNumber']})"]


async def test_an_unexpected_failure_fails_the_run_and_its_job(
        client: Client, server: LiveServer, seat: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    customer = await account(client, "Customer")
    await subscribe(client, customer, "2026-01-01")

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(facts, "load_facts", broken)
    run = await bill(client, server, "2026-01-01")
    assert run["status"] == "FAILED" and run["finishedAt"]
    assert run["errors"] == [{"code": "INTERNAL",
                              "message": f"internal error; bill run id {run['id']}"}]
    [job] = await server.sql("SELECT status, errors FROM jobs WHERE tenant_id = :t "
                             "AND kind = 'bill_run'", t=client.tenant_id)
    assert job["status"] == "FAILED" and job["errors"][0]["code"] == "INTERNAL"
    assert await invoices(client, customer) == []
    # a new run, once the cause is gone, bills it
    monkeypatch.undo()
    assert (await bill(client, server, "2026-01-01"))["invoicesCreated"] == 1
