"""Tenant isolation, table-driven over every operation that takes an id or a number.

Two tenants, A and B, each with the same kinds of documents. Tenant B sends every
operation with tenant A's references in it: each must answer exactly as it answers
for a reference that exists nowhere (NOT_FOUND, naming the argument; for the bulk
createStandaloneInvoices the per-item error; for createOrderAsync the job's error),
and afterwards every row of tenant A is as it was. Subscriptions never deliver A's
events to B.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from billgraph.db.engine import make_engine
from tests.invariants import snapshot
from tests.support import Client, GraphQLErrors, LiveServer, Subscriber, start_server

Refs = dict[str, str]
Variables = Callable[[Refs, Refs], dict[str, Any]]  # (theirs, mine) -> variables


@dataclass(frozen=True)
class Case:
    name: str
    query: str
    variables: Variables
    field: str | None
    code: str = "NOT_FOUND"
    kind: str = "error"  # error | bulk (per-item errors) | job (the job's errors) | empty


def order_input(account: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"input": {"accountId": account, "orderDate": "2026-02-01",
                      "subscriptions": list(entries)}}


def new_sub(mine: Refs, *, owner: str | None = None, invoice_owner: str | None = None,
            plan: dict[str, str] | None = None, **terms: Any) -> dict[str, Any]:
    return {"actions": [{
        "type": "CREATE_SUBSCRIPTION", "effectiveDate": "2026-02-01",
        "subscriptionOwnerAccountId": owner or mine["customer"],
        "invoiceOwnerAccountId": invoice_owner or mine["customer"],
        "billingTerms": {"pricePlan": plan or {"code": mine["plan_code"]},
                         "agreementDate": "2026-02-01", "billingFrequency": "MONTHLY", **terms},
        "items": [{"productCode": mine["product"]}]}]}


def on_sub(number: str, action: dict[str, Any]) -> dict[str, Any]:
    return {"subscriptionNumber": number,
            "actions": [{"effectiveDate": "2026-02-15", **action}]}


def app(kind: str, target: str, amount: str = "1.00") -> list[dict[str, str]]:
    return [{kind: target, "amount": amount}]


ORDER = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }"
ORDER_ASYNC = "mutation($input: CreateOrderInput!) { createOrderAsync(input: $input) { id } }"
PAY = "mutation($input: CreatePaymentInput!) { createPayment(input: $input) { id } }"
CREDIT = "mutation($input: CreateCreditMemoInput!) { createCreditMemo(input: $input) { id } }"
APPLY_PAY = """mutation($id: ID!, $apps: [ApplicationInput!]!) {
  applyPayment(paymentId: $id, applications: $apps) { id } }"""
UNAPPLY_PAY = """mutation($id: ID!, $apps: [ApplicationInput!]!) {
  unapplyPayment(paymentId: $id, applications: $apps) { id } }"""
APPLY_CM = """mutation($id: ID!, $apps: [ApplicationInput!]!) {
  applyCreditMemo(creditMemoId: $id, applications: $apps) { id } }"""
UNAPPLY_CM = """mutation($id: ID!, $apps: [ApplicationInput!]!) {
  unapplyCreditMemo(creditMemoId: $id, applications: $apps) { id } }"""
INVOICES = """mutation($inputs: [StandaloneInvoiceInput!]!) {
  createStandaloneInvoices(inputs: $inputs) { invoice { id } errors { code message } } }"""


def standalone(account: str, product: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"description": "x", "unitPrice": "1.00"}
    if product is not None:
        line["productCode"] = product
    return {"inputs": [{"accountId": account, "invoiceDate": "2026-02-01", "lines": [line]}]}


CASES: list[Case] = [
    # ------------------------------------------------------------------ queries
    Case("account by id", "query($id: ID) { account(id: $id) { id } }",
         lambda t, m: {"id": t["customer"]}, "id"),
    Case("account by number", "query($n: String) { account(accountNumber: $n) { id } }",
         lambda t, m: {"n": t["customer_number"]}, "accountNumber"),
    Case("accountSummary by id", "query($id: ID) { accountSummary(id: $id) { account { id } } }",
         lambda t, m: {"id": t["customer"]}, "id"),
    Case("accountSummary by number",
         "query($n: String) { accountSummary(accountNumber: $n) { account { id } } }",
         lambda t, m: {"n": t["customer_number"]}, "accountNumber"),
    Case("metrics", "query($id: ID!) { metrics(accountId: $id) { balance } }",
         lambda t, m: {"id": t["customer"]}, "accountId"),
    Case("pricePlan by id", "query($id: ID) { pricePlan(id: $id) { id } }",
         lambda t, m: {"id": t["plan"]}, "id"),
    Case("pricePlan by code", "query($c: String) { pricePlan(code: $c) { id } }",
         lambda t, m: {"c": t["plan_code"]}, "code"),
    Case("subscription", "query($n: String!) { subscription(subscriptionNumber: $n) { id } }",
         lambda t, m: {"n": t["subscription"]}, "subscriptionNumber"),
    Case("subscriptions by owner",
         "query($id: ID) { subscriptions(filter: {ownerAccountId: $id}) { totalCount } }",
         lambda t, m: {"id": t["customer"]}, "filter.ownerAccountId"),
    Case("subscriptions by invoice owner",
         "query($id: ID) { subscriptions(filter: {invoiceOwnerAccountId: $id}) { totalCount } }",
         lambda t, m: {"id": t["customer"]}, "filter.invoiceOwnerAccountId"),
    Case("billingTerms",
         "query($n: String!) { billingTerms(subscriptionNumber: $n) { billingCycleDay } }",
         lambda t, m: {"n": t["subscription"]}, "subscriptionNumber"),
    Case("order", "query($n: String!) { order(orderNumber: $n) { id } }",
         lambda t, m: {"n": t["order_number"]}, "orderNumber"),
    Case("job", "query($id: ID!) { job(id: $id) { id } }", lambda t, m: {"id": t["job"]}, "id"),
    Case("invoice by id", "query($id: ID) { invoice(id: $id) { id } }",
         lambda t, m: {"id": t["invoice"]}, "id"),
    Case("invoice by number", "query($n: String) { invoice(invoiceNumber: $n) { id } }",
         lambda t, m: {"n": t["invoice_number"]}, "invoiceNumber"),
    Case("invoices by account",
         "query($id: ID) { invoices(filter: {accountId: $id}) { totalCount } }",
         lambda t, m: {"id": t["customer"]}, "filter.accountId"),
    Case("billRun", "query($id: ID!) { billRun(id: $id) { id } }",
         lambda t, m: {"id": t["bill_run"]}, "id"),
    Case("payment", "query($id: ID!) { payment(id: $id) { id } }",
         lambda t, m: {"id": t["payment"]}, "id"),
    Case("creditMemo", "query($id: ID!) { creditMemo(id: $id) { id } }",
         lambda t, m: {"id": t["credit_memo"]}, "id"),
    Case("debitMemo", "query($id: ID!) { debitMemo(id: $id) { id } }",
         lambda t, m: {"id": t["debit_memo"]}, "id"),
    # ------------------------------------------------------------------ accounts
    Case("updateAccount", 'mutation($id: ID!) { updateAccount(id: $id, input: {name: "pwned"}) '
         "{ id } }", lambda t, m: {"id": t["customer"]}, "id"),
    Case("setPartner", "mutation($id: ID!) { setPartner(accountId: $id, partner: true) { id } }",
         lambda t, m: {"id": t["customer"]}, "accountId"),
    Case("refreshMetrics", "mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }",
         lambda t, m: {"id": t["reseller"]}, "accountId"),
    # ------------------------------------------------------------------ orders
    Case("createOrder accountId", ORDER,
         lambda t, m: order_input(t["customer"], new_sub(m)), "accountId"),
    Case("createOrder subscriptionOwnerAccountId", ORDER,
         lambda t, m: order_input(m["customer"], new_sub(m, owner=t["customer"])),
         "subscriptions[0].actions[0].subscriptionOwnerAccountId"),
    Case("createOrder invoiceOwnerAccountId", ORDER,
         lambda t, m: order_input(m["customer"], new_sub(m, invoice_owner=t["customer"])),
         "subscriptions[0].actions[0].invoiceOwnerAccountId"),
    Case("createOrder subscriptionNumber", ORDER,
         lambda t, m: order_input(m["customer"], on_sub(t["subscription"], {
             "type": "ADD_PRODUCT", "item": {"productCode": m["product"]}})),
         "subscriptions[0].subscriptionNumber"),
    Case("createOrder UPDATE_PRODUCT itemId", ORDER,
         lambda t, m: order_input(m["customer"], on_sub(m["subscription"], {
             "type": "UPDATE_PRODUCT", "itemId": t["item"], "item": {
                 "productCode": m["product"], "quantity": 2}})),
         "subscriptions[0].actions[0].itemId"),
    Case("createOrder REMOVE_PRODUCT itemId", ORDER,
         lambda t, m: order_input(m["customer"], on_sub(m["subscription"], {
             "type": "REMOVE_PRODUCT", "itemId": t["item"]})),
         "subscriptions[0].actions[0].itemId"),
    Case("createOrder newSubscriptionOwnerAccountId", ORDER,
         lambda t, m: order_input(m["customer"], on_sub(m["subscription"], {
             "type": "OWNER_TRANSFER", "newSubscriptionOwnerAccountId": t["customer"]})),
         "subscriptions[0].actions[0].newSubscriptionOwnerAccountId"),
    Case("createOrder newInvoiceOwnerAccountId", ORDER,
         lambda t, m: order_input(m["customer"], on_sub(m["subscription"], {
             "type": "OWNER_TRANSFER", "newInvoiceOwnerAccountId": t["customer"]})),
         "subscriptions[0].actions[0].newInvoiceOwnerAccountId"),
    # SPEC §4: an unknown price plan or user identifier in billing terms is BAD_USER_INPUT
    Case("createOrder billingTerms.pricePlan.id", ORDER,
         lambda t, m: order_input(m["customer"], new_sub(m, plan={"id": t["plan"]})),
         "subscriptions[0].actions[0].billingTerms.pricePlan.id", code="BAD_USER_INPUT"),
    Case("createOrder billingTerms.performedBy.id", ORDER,
         lambda t, m: order_input(m["customer"], new_sub(m, performedBy={"id": t["user"]})),
         "subscriptions[0].actions[0].billingTerms.performedBy.id", code="BAD_USER_INPUT"),
    Case("createOrderAsync accountId", ORDER_ASYNC,
         lambda t, m: order_input(t["customer"], new_sub(m)), "accountId", kind="job"),
    Case("createOrderAsync subscriptionNumber", ORDER_ASYNC,
         lambda t, m: order_input(m["customer"], on_sub(t["subscription"], {
             "type": "SUSPEND"})), "subscriptions[0].subscriptionNumber", kind="job"),
    Case("reportConcurrentUsage",
         'mutation($n: String!) { reportConcurrentUsage(subscriptionNumber: $n, '
         'usageDate: "2026-02-02", concurrentUsage: 3) }',
         lambda t, m: {"n": t["cu_subscription"]}, "subscriptionNumber"),
    # ------------------------------------------------------------------ bill runs, invoices
    Case("billRun accountIds",
         'mutation($ids: [ID!]) { billRun(input: {targetDate: "2026-03-01", accountIds: $ids}) '
         "{ id } }", lambda t, m: {"ids": [m["customer"], t["customer"]]}, "accountIds[1]"),
    Case("createStandaloneInvoices accountId", INVOICES,
         lambda t, m: standalone(t["customer"]), "inputs[0].accountId", kind="bulk"),
    Case("createStandaloneInvoices productCode", INVOICES,
         lambda t, m: standalone(m["customer"], t["product"]), "inputs[0].lines[0].productCode",
         kind="bulk"),
    Case("postInvoice", "mutation($id: ID!) { postInvoice(id: $id) { id } }",
         lambda t, m: {"id": t["draft_invoice"]}, "id"),
    Case("cancelInvoice", "mutation($id: ID!) { cancelInvoice(id: $id) { id } }",
         lambda t, m: {"id": t["open_invoice"]}, "id"),
    # ------------------------------------------------------------------ payments and memos
    Case("createPayment accountId", PAY,
         lambda t, m: {"input": {"accountId": t["customer"], "amount": "5.00"}}, "accountId"),
    Case("createPayment invoiceId", PAY,
         lambda t, m: {"input": {"accountId": m["customer"], "amount": "5.00",
                                 "applications": app("invoiceId", t["invoice"])}},
         "applications[0].invoiceId"),
    Case("createPayment debitMemoId", PAY,
         lambda t, m: {"input": {"accountId": m["customer"], "amount": "5.00",
                                 "applications": app("debitMemoId", t["debit_memo"])}},
         "applications[0].debitMemoId"),
    Case("applyPayment paymentId", APPLY_PAY,
         lambda t, m: {"id": t["payment"], "apps": app("invoiceId", m["invoice"])}, "paymentId"),
    Case("applyPayment invoiceId", APPLY_PAY,
         lambda t, m: {"id": m["payment"], "apps": app("invoiceId", t["invoice"])},
         "applications[0].invoiceId"),
    Case("applyPayment debitMemoId", APPLY_PAY,
         lambda t, m: {"id": m["payment"], "apps": app("debitMemoId", t["debit_memo"])},
         "applications[0].debitMemoId"),
    Case("unapplyPayment paymentId", UNAPPLY_PAY,
         lambda t, m: {"id": t["payment"], "apps": app("invoiceId", m["invoice"])}, "paymentId"),
    Case("unapplyPayment invoiceId", UNAPPLY_PAY,
         lambda t, m: {"id": m["payment"], "apps": app("invoiceId", t["invoice"])},
         "applications[0].invoiceId"),
    Case("refundPayment",
         'mutation($id: ID!) { refundPayment(paymentId: $id, amount: "1.00") { id } }',
         lambda t, m: {"id": t["payment"]}, "paymentId"),
    Case("createCreditMemo accountId", CREDIT,
         lambda t, m: {"input": {"accountId": t["customer"], "amount": "5.00"}}, "accountId"),
    Case("createCreditMemo invoiceId", CREDIT,
         lambda t, m: {"input": {"accountId": m["customer"], "amount": "5.00",
                                 "applications": app("invoiceId", t["invoice"])}},
         "applications[0].invoiceId"),
    Case("applyCreditMemo creditMemoId", APPLY_CM,
         lambda t, m: {"id": t["credit_memo"], "apps": app("debitMemoId", m["debit_memo"])},
         "creditMemoId"),
    Case("applyCreditMemo debitMemoId", APPLY_CM,
         lambda t, m: {"id": m["credit_memo"], "apps": app("debitMemoId", t["debit_memo"])},
         "applications[0].debitMemoId"),
    Case("applyCreditMemo invoiceId", APPLY_CM,
         lambda t, m: {"id": m["credit_memo"], "apps": app("invoiceId", t["invoice"])},
         "applications[0].invoiceId"),
    Case("unapplyCreditMemo creditMemoId", UNAPPLY_CM,
         lambda t, m: {"id": t["credit_memo"], "apps": app("debitMemoId", m["debit_memo"])},
         "creditMemoId"),
    Case("unapplyCreditMemo debitMemoId", UNAPPLY_CM,
         lambda t, m: {"id": m["credit_memo"], "apps": app("debitMemoId", t["debit_memo"])},
         "applications[0].debitMemoId"),
    Case("refundCreditMemo",
         'mutation($id: ID!) { refundCreditMemo(creditMemoId: $id, amount: "1.00") { id } }',
         lambda t, m: {"id": t["credit_memo"]}, "creditMemoId"),
    Case("createDebitMemo accountId",
         "mutation($id: ID!) { createDebitMemo(input: {accountId: $id, amount: \"5.00\"}) "
         "{ id } }", lambda t, m: {"id": t["customer"]}, "accountId"),
    # ------------------------------------------------------------------ keys, audit trail
    Case("revokeApiKey", "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
         lambda t, m: {"id": t["api_key"]}, "id"),
    Case("auditEvents filter.accountId",
         "query($id: ID) { auditEvents(filter: {accountId: $id}) { totalCount } }",
         lambda t, m: {"id": t["customer"]}, None, kind="empty"),
    Case("auditEvents filter.apiKeyId",
         "query($id: ID) { auditEvents(filter: {apiKeyId: $id}) { totalCount } }",
         lambda t, m: {"id": t["api_key"]}, None, kind="empty"),
]


# ---------------------------------------------------------------------- the two worlds

async def gql(client: Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    return await client.gql(query, variables)


async def build_world(client: Client, tag: str) -> Refs:
    """One tenant's documents of every kind; their ids and numbers."""
    refs: Refs = {"product": f"PROD-{tag}", "plan_code": f"PLAN-{tag}"}
    await gql(client, "mutation($c: String!) { createProduct(input: {code: $c, name: $c}) "
                      "{ id } }", {"c": refs["product"]})
    plan = await gql(client, """mutation($c: String!, $p: String!) { createPricePlan(input: {
        code: $c, name: $c, charges: [{productCode: $p, chargeType: RECURRING, price: "10.00"}]})
        { id } }""", {"c": refs["plan_code"], "p": refs["product"]})
    refs["plan"] = plan["createPricePlan"]["id"]
    await gql(client, """mutation { createBillingTermScheme(input: {code: "CU", type: NORMAL,
        concurrentUsageBased: true}) { id } }""")
    user = await gql(client, "mutation($u: String!) { createUser(username: $u) { id } }",
                     {"u": f"user-{tag}"})
    refs["user"] = user["createUser"]["id"]
    for name, partner in (("customer", False), ("reseller", True)):
        data = await gql(client, "mutation($n: String!, $p: Boolean) { createAccount(input: "
                                 "{name: $n, partnerAccount: $p}) { id accountNumber } }",
                         {"n": f"{name}-{tag}", "p": partner})
        refs[name] = data["createAccount"]["id"]
        refs[f"{name}_number"] = data["createAccount"]["accountNumber"]
    order = await gql(client, """mutation($input: CreateOrderInput!) { createOrder(input: $input) {
        orderNumber subscriptions { subscription { subscriptionNumber items { id } } } } }""",
                      order_input(refs["customer"], new_sub(refs),
                                  new_sub(refs, schemeCode="CU", concurrentUsageBasedPricing={
                                      "concurrentUsage": 5, "ratePercentage": "100",
                                      "concurrentUsageBillingMethod": "BASED_ON_ACTUAL_CAPACITY"}),
                                  new_sub(refs, owner=refs["reseller"],
                                          invoice_owner=refs["reseller"])))
    subs = order["createOrder"]["subscriptions"]
    refs["order_number"] = order["createOrder"]["orderNumber"]
    refs["subscription"] = subs[0]["subscription"]["subscriptionNumber"]
    refs["item"] = subs[0]["subscription"]["items"][0]["id"]
    refs["cu_subscription"] = subs[1]["subscription"]["subscriptionNumber"]
    made = await gql(client, INVOICES.replace("{ id }", "{ id invoiceNumber }"), {"inputs": [
        {"accountId": refs["customer"], "invoiceDate": "2026-01-15",
         "lines": [{"description": "posted", "unitPrice": "100.00"}]},
        {"accountId": refs["customer"], "invoiceDate": "2026-01-15", "post": False,
         "lines": [{"description": "draft", "unitPrice": "50.00"}]},
        {"accountId": refs["customer"], "invoiceDate": "2026-01-16",
         "lines": [{"description": "untouched", "unitPrice": "20.00"}]},
        {"accountId": refs["reseller"], "invoiceDate": "2026-01-16",
         "lines": [{"description": "reseller", "unitPrice": "70.00"}]}]})
    results = made["createStandaloneInvoices"]
    assert not any(r["errors"] for r in results), results
    refs["invoice"] = results[0]["invoice"]["id"]
    refs["invoice_number"] = results[0]["invoice"]["invoiceNumber"]
    refs["draft_invoice"] = results[1]["invoice"]["id"]
    refs["open_invoice"] = results[2]["invoice"]["id"]
    memo = await gql(client, "mutation($id: ID!) { createDebitMemo(input: {accountId: $id, "
                             'amount: "30.00"}) { id } }', {"id": refs["customer"]})
    refs["debit_memo"] = memo["createDebitMemo"]["id"]
    payment = await gql(client, PAY, {"input": {
        "accountId": refs["customer"], "amount": "40.00",
        "applications": app("invoiceId", refs["invoice"], "10.00")}})
    refs["payment"] = payment["createPayment"]["id"]
    credit = await gql(client, CREDIT, {"input": {
        "accountId": refs["customer"], "amount": "20.00",
        "applications": app("debitMemoId", refs["debit_memo"], "5.00")}})
    refs["credit_memo"] = credit["createCreditMemo"]["id"]
    await gql(client, "mutation($n: String!) { reportConcurrentUsage(subscriptionNumber: $n, "
                      'usageDate: "2026-02-03", concurrentUsage: 2) }',
              {"n": refs["cu_subscription"]})
    run = await gql(client, 'mutation { billRun(input: {targetDate: "2026-02-01"}) { id } }')
    refs["bill_run"] = run["billRun"]["id"]
    job = await gql(client, ORDER_ASYNC, order_input(refs["customer"], new_sub(refs)))
    refs["job"] = job["createOrderAsync"]["id"]
    await wait_for_background(client, refs["bill_run"], refs["job"])
    await gql(client, "mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }",
              {"id": refs["reseller"]})
    refs["api_key"] = (await gql(client, "{ apiKeys { id } }"))["apiKeys"][0]["id"]
    return refs


async def wait_for_background(client: Client, bill_run: str, job: str) -> None:
    for _ in range(300):
        data = await gql(client, "query($r: ID!, $j: ID!) { billRun(id: $r) { status } "
                                 "job(id: $j) { status errors { code message } } }",
                         {"r": bill_run, "j": job})
        if data["billRun"]["status"] in ("COMPLETED", "FAILED") and \
                data["job"]["status"] in ("SUCCEEDED", "FAILED"):
            assert (data["billRun"]["status"], data["job"]["status"]) == (
                "COMPLETED", "SUCCEEDED"), data
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the background work did not finish")


def unknown_refs(refs: Refs) -> Refs:
    """References of the same shape that name nothing in any tenant."""
    return {k: (str(uuid.uuid4()) if is_uuid(v) else f"{v}-nowhere") for k, v in refs.items()}


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def outcome(server: LiveServer, client: Client, case: Case, theirs: Refs,
                  mine: Refs) -> tuple[str, str | None]:
    """The (code, field) the operation answers with these references."""
    response = await client.post(case.query, case.variables(theirs, mine))
    assert response.status_code == 200, response.text
    body = response.json()
    if case.kind == "empty":  # a filter naming another tenant's id matches nothing
        assert not body.get("errors"), body
        assert next(iter(body["data"].values())) == {"totalCount": 0}, body
        return "EMPTY", None
    if case.kind == "bulk":
        assert not body.get("errors"), body
        [result] = next(iter(body["data"].values()))
        assert result["invoice"] is None, body
        [error] = result["errors"]
        return error["code"], error["message"].split(":")[0]
    if case.kind == "job":
        assert not body.get("errors"), body
        job_id = body["data"]["createOrderAsync"]["id"]
        for _ in range(300):
            job = (await client.gql("query($id: ID!) { job(id: $id) { status errors { code "
                                    "message } } }", {"id": job_id}))["job"]
            if job["status"] in ("SUCCEEDED", "FAILED"):
                break
            await asyncio.sleep(0.1)
        assert job["status"] == "FAILED", job
        [row] = await server.sql("SELECT errors FROM jobs WHERE id = CAST(:id AS uuid)",
                                 id=job_id)
        [error] = row["errors"]
        return error["code"], error.get("field")
    errors = body.get("errors")
    assert errors, f"{case.name}: expected an error, got {body}"
    assert body.get("data") is None or all(v is None for v in body["data"].values()), body
    extensions = errors[0].get("extensions", {})
    return extensions.get("code"), extensions.get("field")


# ---------------------------------------------------------------------- the test

@pytest.fixture
async def live(database_url: str) -> AsyncIterator[LiveServer]:
    # lastUsedAt is not flushed during the test: "nothing of tenant A changed" stays exact
    async with start_server(database_url, run_workers=True, worker_tick_seconds=0.05,
                            key_usage_flush_seconds=3600) as server:
        yield server


async def tenant_rows(server: LiveServer, tenant_id: str) -> dict[str, Any]:
    engine = make_engine(server.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return await snapshot(conn, tenant_id)
    finally:
        await engine.dispose()


async def audit_events(server: LiveServer, tenant_id: str) -> list[str]:
    """The outcomes of the tenant's audit events, oldest first."""
    rows = await server.sql("SELECT outcome FROM audit_events WHERE tenant_id = CAST(:t AS uuid) "
                            "ORDER BY id", t=tenant_id)
    return [row["outcome"] for row in rows]


async def test_another_tenants_references_are_not_found(live: LiveServer) -> None:
    async with live.new_tenant("tenant-a") as a, live.new_tenant("tenant-b") as b:
        schema = await a.gql("{ __schema { queryType { fields { name } } } }")
        served = {f["name"] for f in schema["__schema"]["queryType"]["fields"]}
        theirs, mine = await build_world(a, "A"), await build_world(b, "B")
        nowhere = unknown_refs(theirs)
        before = await tenant_rows(live, a.tenant_id)
        checked = []
        for case in CASES:
            if case.name.startswith("accountSummary") and "accountSummary" not in served:
                continue  # not served yet
            audited = await audit_events(live, b.tenant_id)
            got = await outcome(live, b, case, theirs, mine)
            expected = ("EMPTY", None) if case.kind == "empty" else (case.code, case.field)
            assert got == expected, f"{case.name}: {got}"
            assert await outcome(live, b, case, nowhere, mine) == got, case.name
            # a mutation leaves one audit event in B's trail per call, with its outcome
            outcomes = "OK" if case.kind in ("bulk", "job") else case.code
            new = (await audit_events(live, b.tenant_id))[len(audited):]
            if case.query.startswith("mutation"):
                assert new == [outcomes, outcomes], f"{case.name}: {new}"
            else:
                assert new == [], f"{case.name}: {new}"
            checked.append(case.name)
        # nothing of tenant A changed: rows, documents, metrics, marks, keys
        await asyncio.sleep(0.3)  # let any (wrongly) queued background work show itself
        after = await tenant_rows(live, a.tenant_id)
        assert after == before
        # B's pages never list A's documents
        listed = await b.gql("{ accounts(first: 500) { edges { node { id } } } "
                             "invoices(first: 500) { edges { node { id } } } "
                             "subscriptions(first: 500) { edges { node { id } } } }")
        ids = {e["node"]["id"] for page in listed.values() for e in page["edges"]}
        assert not ids & set(theirs.values())
        # ... nor A's keys or audit events
        keys = await b.gql("{ apiKeys { id } }")
        assert theirs["api_key"] not in {k["id"] for k in keys["apiKeys"]}
        trail = await b.gql("{ auditEvents(first: 500) { edges { node { id accountIds } } } }")
        mine_only = {e["node"]["id"] for e in trail["auditEvents"]["edges"]}
        a_events = {str(r["id"]) for r in await live.sql(
            "SELECT id FROM audit_events WHERE tenant_id = CAST(:t AS uuid)", t=a.tenant_id)}
        assert a_events and not mine_only & a_events
    assert len(checked) >= len(CASES) - 2


async def test_subscriptions_never_deliver_another_tenants_events(live: LiveServer) -> None:
    async with live.new_tenant("events-a") as a, live.new_tenant("events-b") as b:
        theirs = await build_world(a, "A")
        b_account = (await b.gql('mutation { createAccount(input: {name: "mine"}) { id } }'))[
            "createAccount"]["id"]
        async with Subscriber(live.url, b.key) as every, \
                Subscriber(live.url, b.key) as targeted, Subscriber(live.url, b.key) as progress:
            for sub in (every, targeted, progress):
                await sub.ack()
            await every.subscribe("subscription { metricsUpdated { account { id } } }")
            await targeted.subscribe("subscription($id: ID) { metricsUpdated(accountId: $id) "
                                     "{ account { id } } }", {"id": theirs["customer"]})
            await progress.subscribe("subscription($id: ID!) { billRunProgress(id: $id) "
                                     "{ id status } }", {"id": theirs["bill_run"]})
            for sub in (targeted, progress):
                with pytest.raises(GraphQLErrors) as refused:
                    await sub.next()
                assert refused.value.codes == ["NOT_FOUND"]
            await asyncio.sleep(0.2)
            # A's recomputes (synchronous, refresher, bill run) publish A's events only
            await a.gql("mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }",
                        {"id": theirs["customer"]})
            await a.gql(PAY, {"input": {"accountId": theirs["customer"], "amount": "1.00"}})
            run = await a.gql('mutation { billRun(input: {targetDate: "2026-04-01"}) { id } }')
            for _ in range(100):
                status = (await a.gql("query($id: ID!) { billRun(id: $id) { status } }",
                                      {"id": run["billRun"]["id"]}))["billRun"]["status"]
                if status == "COMPLETED":
                    break
                await asyncio.sleep(0.1)
            await every.nothing_for(1.0)
            # ... while B's own still arrive
            await b.gql("mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }",
                        {"id": b_account})
            assert (await every.next())["metricsUpdated"]["account"]["id"] == b_account
