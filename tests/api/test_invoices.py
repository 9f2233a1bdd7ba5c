"""Invoices: lookups, pages, Account.invoices, posting, cancelling, the bill run link."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.billing_support import (
    ZERO,
    account_metrics,
    create_account,
    create_invoice,
    create_invoices,
    invoice,
    invoice_input,
    metrics,
)
from tests.support import Client, LiveServer

PAGE = """query($first: Int, $after: String, $filter: InvoiceFilter) {
  invoices(first: $first, after: $after, filter: $filter) {
    totalCount edges { cursor node { id invoiceNumber status account { id } } }
    pageInfo { hasNextPage endCursor } } }"""
POST = "mutation($id: ID!) { postInvoice(id: $id) { status balance account { metrics { %s } } } }"
CANCEL = "mutation($id: ID!) { cancelInvoice(id: $id) { status amount balance } }"
METRIC_FIELDS = "totalInvoiceBalance balance lastInvoiceDate stale"


async def test_invoice_by_id_and_number(client: Client) -> None:
    account = await create_account(client)
    created = await create_invoice(client, account, "10.00", "2.50", invoiceNumber="MIG-1",
                                   dueDate="2026-02-28")
    by_number = await client.gql(
        '{ invoice(invoiceNumber: "MIG-1") { id invoiceNumber invoiceDate dueDate status amount '
        "balance currency billRun { id } account { id } } }")
    assert by_number["invoice"] == {
        "id": created["id"], "invoiceNumber": "MIG-1", "invoiceDate": "2026-01-31",
        "dueDate": "2026-02-28", "status": "POSTED", "amount": "12.50", "balance": "12.50",
        "currency": "USD", "billRun": None, "account": {"id": account}}
    by_id = await invoice(client, created["id"])
    assert [line["amount"] for line in by_id["lines"]] == ["10.00", "2.50"]
    assert [line["description"] for line in by_id["lines"]] == ["line 0", "line 1"]


@pytest.mark.parametrize("query", [
    '{ invoice(invoiceNumber: "nope") { id } }',
    '{ invoice(id: "0190f0f0-0000-7000-8000-000000000000") { id } }',
    '{ invoice(id: "not-an-id") { id } }',
])
async def test_unknown_invoice_is_not_found(client: Client, query: str) -> None:
    error = await client.error(query)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_invoice_needs_id_or_number(client: Client) -> None:
    error = await client.error("{ invoice { id } }")
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}


async def test_invoices_of_another_tenant_are_not_found(server: LiveServer,
                                                        client: Client) -> None:
    account = await create_account(client)
    created = await create_invoice(client, account, "1.00")
    async with server.new_tenant("other") as other:
        error = await other.error("query($id: ID!) { invoice(id: $id) { id } }",
                                  {"id": created["id"]})
        assert error["extensions"]["code"] == "NOT_FOUND"
        page = await other.gql(PAGE)
        assert page["invoices"]["totalCount"] == 0


async def test_pages_filters_and_account_invoices(client: Client) -> None:
    first, second = await create_account(client, "First"), await create_account(client, "Second")
    results = await create_invoices(
        client,
        *(invoice_input(first, "1.00", post=n % 4 != 0) for n in range(45)),
        *(invoice_input(second, "1.00") for _ in range(5)))
    assert all(r["errors"] == [] for r in results)
    seen: list[str] = []
    after = None
    while True:
        page = (await client.gql(PAGE, {"first": 20, "after": after,
                                        "filter": {"accountId": first}}))["invoices"]
        assert page["totalCount"] == 45
        seen += [e["node"]["id"] for e in page["edges"]]
        assert {e["node"]["account"]["id"] for e in page["edges"]} == {first}
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 45 == len(set(seen))
    assert seen == sorted(seen)  # oldest first: ids are time-ordered
    drafts = (await client.gql(PAGE, {"filter": {"accountId": first, "status": "DRAFT"}}))
    assert drafts["invoices"]["totalCount"] == 12
    assert {e["node"]["status"] for e in drafts["invoices"]["edges"]} == {"DRAFT"}
    everything = (await client.gql(PAGE, {"first": 500}))["invoices"]
    assert everything["totalCount"] == 50 and len(everything["edges"]) == 50
    nested = await client.gql(
        """query($id: ID!, $after: String) { account(id: $id) { invoices(first: 3, after: $after)
        { totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } } }""",
        {"id": second})
    invoices = nested["account"]["invoices"]
    assert invoices["totalCount"] == 5 and invoices["pageInfo"]["hasNextPage"] is True
    rest = await client.gql(
        """query($id: ID!, $after: String) { account(id: $id) { invoices(first: 3, after: $after)
        { edges { node { id } } pageInfo { hasNextPage } } } }""",
        {"id": second, "after": invoices["pageInfo"]["endCursor"]})
    assert len(rest["account"]["invoices"]["edges"]) == 2
    assert rest["account"]["invoices"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(("variables", "field"), [
    ({"first": 501}, "first"), ({"first": -1}, "first"), ({"after": "garbage"}, "after")])
async def test_bad_invoice_page_requests(client: Client, variables: dict[str, Any],
                                         field: str) -> None:
    error = await client.error(PAGE, variables)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_post_draft_invoice(client: Client) -> None:
    account = await create_account(client)
    draft = await create_invoice(client, account, "40.00", post=False, date="2026-03-01")
    assert (draft["status"], draft["balance"]) == ("DRAFT", "40.00")
    assert draft["account"]["metrics"] == ZERO
    posted = (await client.gql(POST % METRIC_FIELDS, {"id": draft["id"]}))["postInvoice"]
    assert posted == {"status": "POSTED", "balance": "40.00", "account": {"metrics": {
        "totalInvoiceBalance": "40.00", "balance": "40.00", "lastInvoiceDate": "2026-03-01",
        "stale": False}}}
    again = await client.error(POST % "balance", {"id": draft["id"]})
    assert again["extensions"] == {"code": "BAD_USER_INPUT", "field": "id", "reason": "not_draft"}
    assert "POSTED" in again["message"]


async def test_posting_sets_posted_at(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    draft = await create_invoice(client, account, "1.00", post=False)
    [before] = await server.sql("SELECT posted_at FROM invoices WHERE id = :id", id=draft["id"])
    assert before["posted_at"] is None
    await client.gql(POST % "balance", {"id": draft["id"]})
    [after] = await server.sql("SELECT posted_at FROM invoices WHERE id = :id", id=draft["id"])
    assert after["posted_at"] is not None


async def test_cancel_posted_and_draft_invoices(client: Client) -> None:
    account = await create_account(client)
    older = await create_invoice(client, account, "25.00", date="2026-01-10")
    newer = await create_invoice(client, account, "75.00", date="2026-02-10")
    draft = await create_invoice(client, account, "5.00", post=False, date="2026-03-10")
    assert await account_metrics(client, account) == metrics(
        invoices="100.00", debit_memos="0.00", balance="100.00", payments="0.00",
        credit_memos="0.00", credit="0.00", last="2026-02-10")
    canceled = (await client.gql(CANCEL, {"id": newer["id"]}))["cancelInvoice"]
    assert canceled == {"status": "CANCELED", "amount": "75.00", "balance": "0.00"}
    assert await account_metrics(client, account) == metrics(
        invoices="25.00", debit_memos="0.00", balance="25.00", payments="0.00",
        credit_memos="0.00", credit="0.00", last="2026-01-10")
    assert (await client.gql(CANCEL, {"id": draft["id"]}))["cancelInvoice"]["status"] == "CANCELED"
    error = await client.error(CANCEL, {"id": newer["id"]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id",
                                   "reason": "already_canceled"}
    post_canceled = await client.error(POST % "balance", {"id": draft["id"]})
    assert post_canceled["extensions"] == {"code": "BAD_USER_INPUT", "field": "id",
                                           "reason": "not_draft"}
    assert (await invoice(client, older["id"]))["status"] == "POSTED"


async def test_cancel_only_with_nothing_applied(client: Client) -> None:
    account = await create_account(client)
    inv = await create_invoice(client, account, "60.00")
    payment = (await client.gql(
        """mutation($input: CreatePaymentInput!) { createPayment(input: $input) { id } }""",
        {"input": {"accountId": account, "amount": "20.00",
                   "applications": [{"invoiceId": inv["id"], "amount": "20.00"}]}}
    ))["createPayment"]
    error = await client.error(CANCEL, {"id": inv["id"]})
    # the same code and field as an already canceled invoice: the reason tells them apart
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id",
                                   "reason": "has_applications"}
    assert inv["invoiceNumber"] in error["message"]
    assert (await invoice(client, inv["id"]))["status"] == "POSTED"
    unapply = """mutation($p: ID!, $apps: [ApplicationInput!]!) {
      unapplyPayment(paymentId: $p, applications: $apps) { unappliedAmount } }"""
    # applied, unapplied and applied again: the net application still blocks the cancel
    await client.gql(unapply, {"p": payment["id"],
                               "apps": [{"invoiceId": inv["id"], "amount": "5.00"}]})
    error = await client.error(CANCEL, {"id": inv["id"]})
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    await client.gql(unapply, {"p": payment["id"],
                               "apps": [{"invoiceId": inv["id"], "amount": "15.00"}]})
    canceled = (await client.gql(CANCEL, {"id": inv["id"]}))["cancelInvoice"]
    assert canceled["status"] == "CANCELED"
    assert await account_metrics(client, account) == metrics(
        invoices="0.00", debit_memos="0.00", balance="0.00", payments="20.00",
        credit_memos="0.00", credit="20.00", last=None)


async def test_unknown_invoice_to_post_or_cancel(client: Client) -> None:
    for mutation in (POST % "balance", CANCEL):
        error = await client.error(mutation, {"id": "0190f0f0-0000-7000-8000-000000000000"})
        assert error["extensions"] == {"code": "NOT_FOUND", "field": "id"}


async def test_invoice_bill_run(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    inv = await create_invoice(client, account, "9.99")
    [run] = await server.sql(
        "INSERT INTO bill_runs (tenant_id, id, status, target_date, invoice_date, auto_post, "
        "accounts_total, accounts_processed, invoices_created, total_amount, errors) VALUES "
        "(:t, gen_random_uuid(), 'COMPLETED', '2026-01-31', '2026-02-01', true, 3, 3, 1, 9.99, "
        """'[{"code": "NOT_FOUND", "message": "account gone"}]') RETURNING id""",
        t=client.tenant_id)
    await server.sql("UPDATE invoices SET bill_run_id = :r WHERE id = :id",
                     r=run["id"], id=inv["id"])
    data = await client.gql(
        """query($id: ID!) { invoice(id: $id) { billRun { id status targetDate invoiceDate
        accountsProcessed invoicesCreated totalAmount createdAt finishedAt
        errors { code message } } } }""", {"id": inv["id"]})
    bill_run = data["invoice"]["billRun"]
    assert bill_run["createdAt"]
    assert bill_run == {**bill_run, "id": str(run["id"]), "status": "COMPLETED",
                        "targetDate": "2026-01-31", "invoiceDate": "2026-02-01",
                        "accountsProcessed": 3, "invoicesCreated": 1, "totalAmount": "9.99",
                        "finishedAt": None,
                        "errors": [{"code": "NOT_FOUND", "message": "account gone"}]}


async def test_line_product_and_subscription(client: Client) -> None:
    account = await create_account(client)
    await client.gql('mutation { createProduct(input: {code: "SEAT", name: "Seat"}) { id } }')
    inv = await create_invoice(client, account, lines=[
        {"description": "seat", "productCode": "SEAT", "unitPrice": "3.00"},
        {"description": "free text", "unitPrice": "1.00"}])
    data = await client.gql("query($id: ID!) { invoice(id: $id) { lines { description "
                            "product { code name } subscription { id } } } }", {"id": inv["id"]})
    assert data["invoice"]["lines"] == [
        {"description": "seat", "product": {"code": "SEAT", "name": "Seat"}, "subscription": None},
        {"description": "free text", "product": None, "subscription": None}]
