"""The audit trail (SPEC §16): one event per mutation, in its own transaction.

Every root field of Mutation (read from the served schema, so the table cannot go
stale) runs once successfully here and leaves exactly one event with outcome OK,
its operation, operationName, the key, the request id and the accounts it
touched; failures leave one event with their code; no secret is ever stored.
The tenant-isolation test checks the same for every refused operation of its table.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from billgraph.services import audit
from tests.api.test_tenant_isolation import (
    APPLY_CM,
    APPLY_PAY,
    CREDIT,
    INVOICES,
    ORDER,
    ORDER_ASYNC,
    PAY,
    UNAPPLY_CM,
    UNAPPLY_PAY,
    app,
    build_world,
    new_sub,
    order_input,
    wait_for_background,
)
from tests.support import Client, LiveServer, start_server

Refs = dict[str, str]

EVENTS = """query($f: AuditEventFilter, $first: Int, $after: String) {
  auditEvents(filter: $f, first: $first, after: $after) { totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id occurredAt operation operationName requestId outcome accountIds
      variables apiKey { id prefix scope } } } } }"""


@dataclass(frozen=True)
class Run:
    operation: str
    query: str
    variables: Callable[[Refs], dict[str, Any]]
    accounts: Callable[[Refs], list[str]] = lambda r: []
    keep: Callable[[Refs, Any], None] = lambda r, data: None  # ids for later runs
    prepare: Callable[[Client, Refs], Awaitable[None]] | None = None  # reads before the run


def keep(name: str, *path: str) -> Callable[[Refs, Any], None]:
    def store(refs: Refs, data: Any) -> None:
        for step in path:
            data = data[0][step] if isinstance(data, list) else data[step]
        refs[name] = data

    return store


async def delivery_of_the_payment(client: Client, refs: Refs) -> None:
    """The PAYMENT_CREATED delivery of the endpoint created above (to a closed port)."""
    page = (await client.gql("{ webhookDeliveries(first: 1) { edges { node { id } } } }"))
    refs["delivery"] = page["webhookDeliveries"]["edges"][0]["node"]["id"]


ONE = "1.00"
RUNS: list[Run] = [
    Run("updateTenantSettings", "mutation { updateTenantSettings(input: "
        "{metricsRefreshIntervalSeconds: 60}) { id } }", lambda r: {}),
    Run("createAccount", 'mutation AddAccount { createAccount(input: {name: "audited"}) { id } }',
        lambda r: {}, keep=keep("new_account", "createAccount", "id"),
        accounts=lambda r: [r["new_account"]]),
    Run("updateAccount", 'mutation($id: ID!) { updateAccount(id: $id, input: {name: "r"}) '
        "{ id } }", lambda r: {"id": r["new_account"]}, lambda r: [r["new_account"]]),
    Run("setPartner", "mutation($id: ID!) { setPartner(accountId: $id, partner: true) { id } }",
        lambda r: {"id": r["new_account"]}, lambda r: [r["new_account"]]),
    Run("refreshMetrics", "mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }",
        lambda r: {"id": r["customer"]}, lambda r: [r["customer"]]),
    Run("createStandaloneInvoices", INVOICES.replace("invoice { id }", "invoice { id status }"),
        lambda r: {"inputs": [{"accountId": r["customer"], "invoiceDate": "2026-02-01",
                               "post": False, "lines": [{"description": "d", "unitPrice": ONE}]}]},
        keep=keep("draft", "createStandaloneInvoices", "invoice", "id")),
    Run("postInvoice", "mutation($id: ID!) { postInvoice(id: $id) { id } }",
        lambda r: {"id": r["draft"]}, lambda r: [r["customer"]]),
    Run("cancelInvoice", "mutation($id: ID!) { cancelInvoice(id: $id) { id } }",
        lambda r: {"id": r["draft"]}, lambda r: [r["customer"]]),
    Run("createWebhookEndpoint", 'mutation { createWebhookEndpoint(input: {url: '
        '"http://127.0.0.1:9/hook", eventTypes: [PAYMENT_CREATED]}) { endpoint { id } } }',
        lambda r: {}, keep=keep("endpoint", "createWebhookEndpoint", "endpoint", "id")),
    Run("updateWebhookEndpoint", 'mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: '
        '{description: "audited"}) { id } }', lambda r: {"id": r["endpoint"]}),
    Run("rotateWebhookSecret", "mutation($id: ID!) { rotateWebhookSecret(id: $id) "
        "{ endpoint { id } } }", lambda r: {"id": r["endpoint"]}),
    Run("createPayment", PAY, lambda r: {"input": {"accountId": r["customer"], "amount": "9.00"}},
        lambda r: [r["customer"]], keep("new_payment", "createPayment", "id")),
    Run("redeliverWebhook", "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id } }",
        lambda r: {"id": r["delivery"]}, prepare=delivery_of_the_payment),
    Run("deleteWebhookEndpoint", "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
        lambda r: {"id": r["endpoint"]}),
    Run("applyPayment", APPLY_PAY,
        lambda r: {"id": r["new_payment"], "apps": app("invoiceId", r["open_invoice"], ONE)},
        lambda r: [r["customer"]]),
    Run("unapplyPayment", UNAPPLY_PAY,
        lambda r: {"id": r["new_payment"], "apps": app("invoiceId", r["open_invoice"], ONE)},
        lambda r: [r["customer"]]),
    Run("refundPayment", 'mutation($id: ID!) { refundPayment(paymentId: $id, amount: "1.00") '
        "{ id } }", lambda r: {"id": r["new_payment"]}, lambda r: [r["customer"]]),
    Run("createCreditMemo", CREDIT,
        lambda r: {"input": {"accountId": r["customer"], "amount": "5.00"}},
        lambda r: [r["customer"]], keep("new_memo", "createCreditMemo", "id")),
    Run("applyCreditMemo", APPLY_CM,
        lambda r: {"id": r["new_memo"], "apps": app("debitMemoId", r["debit_memo"], ONE)},
        lambda r: [r["customer"]]),
    Run("unapplyCreditMemo", UNAPPLY_CM,
        lambda r: {"id": r["new_memo"], "apps": app("debitMemoId", r["debit_memo"], ONE)},
        lambda r: [r["customer"]]),
    Run("refundCreditMemo", 'mutation($id: ID!) { refundCreditMemo(creditMemoId: $id, '
        'amount: "1.00") { id } }', lambda r: {"id": r["new_memo"]}, lambda r: [r["customer"]]),
    Run("createDebitMemo", "mutation($id: ID!) { createDebitMemo(input: {accountId: $id, "
        'amount: "2.00"}) { id } }', lambda r: {"id": r["customer"]}, lambda r: [r["customer"]]),
    Run("createProduct", 'mutation { createProduct(input: {code: "AUD", name: "a"}) { id } }',
        lambda r: {}),
    Run("createPricePlan", """mutation($p: String!) { createPricePlan(input: {code: "AUDP",
        name: "a", charges: [{productCode: $p, chargeType: RECURRING, price: "3.00"}]}) { id } }""",
        lambda r: {"p": r["product"]}),
    Run("createBillingTermScheme", 'mutation { createBillingTermScheme(input: {code: "AUDS", '
        "type: NORMAL}) { id } }", lambda r: {}),
    Run("createUser", 'mutation { createUser(username: "auditor") { id } }', lambda r: {}),
    Run("createOrder", ORDER, lambda r: order_input(r["customer"], new_sub(r)),
        lambda r: [r["customer"]]),
    Run("createOrderAsync", ORDER_ASYNC, lambda r: order_input(r["customer"], new_sub(r)),
        keep=keep("async_job", "createOrderAsync", "id")),
    Run("billRun", 'mutation { billRun(input: {targetDate: "2026-05-01"}) { id } }',
        lambda r: {}, keep=keep("run", "billRun", "id")),
    Run("reportConcurrentUsage", 'mutation($n: String!) { reportConcurrentUsage('
        'subscriptionNumber: $n, usageDate: "2026-02-04", concurrentUsage: 4) }',
        lambda r: {"n": r["cu_subscription"]}),
    # a record for a product the subscription has no USAGE item of: refused per record,
    # the mutation itself succeeds (its outcome is OK)
    Run("recordUsage", 'mutation($n: String!) { recordUsage(records: [{recordId: "aud-1", '
        'subscriptionNumber: $n, productCode: "NONE", quantity: "1", '
        'timestamp: "2026-02-04T00:00:00Z"}]) { recordId } }',
        lambda r: {"n": r["cu_subscription"]}),
    Run("createDiscount", 'mutation { createDiscount(input: {code: "AUD10", name: "a", '
        'type: PERCENTAGE, percentage: "10"}) { id } }', lambda r: {}),
    Run("applyDiscount", 'mutation($n: String!) { applyDiscount(input: {subscriptionNumber: $n, '
        'discountCode: "AUD10"}) { id } }', lambda r: {"n": r["subscription"]},
        keep=keep("sub_discount", "applyDiscount", "id")),
    Run("removeDiscount", 'mutation($id: ID!) { removeDiscount(subscriptionDiscountId: $id, '
        'endDate: "2026-03-31") { id } }', lambda r: {"id": r["sub_discount"]}),
    Run("createTaxRate", 'mutation { createTaxRate(input: {code: "AUDT", name: "t", '
        'percentage: "19", country: "DE"}) { id } }', lambda r: {},
        keep=keep("tax_rate", "createTaxRate", "id")),
    Run("deactivateTaxRate", "mutation($id: ID!) { deactivateTaxRate(id: $id) { id } }",
        lambda r: {"id": r["tax_rate"]}),
    Run("refreshHierarchyMetrics", "mutation($id: ID!) { refreshHierarchyMetrics(accountId: $id) "
        "{ currency } }", lambda r: {"id": r["customer"]}, lambda r: [r["customer"]]),
    Run("createApiKey", 'mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) '
        "{ secret apiKey { id } } }", lambda r: {"i": {"scope": "READ"}},
        keep=keep("new_key", "createApiKey", "apiKey", "id")),
    Run("revokeApiKey", "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        lambda r: {"id": r["new_key"]}),
]


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[LiveServer]:
    async with start_server(database_url, run_workers=True, worker_tick_seconds=0.05) as server:
        yield server


async def admin(live: LiveServer, name: str) -> Client:
    tenant_id, key = await live.create_tenant(name, "admin")
    return Client(live.http, key, tenant_id)


async def events(client: Client, **filters: Any) -> list[dict[str, Any]]:
    page = (await client.gql(EVENTS, {"f": filters or None, "first": 500}))["auditEvents"]
    return [edge["node"] for edge in page["edges"]]


def secrets_in(text: str) -> list[str]:
    return [s for s in ("bgk_", "whsec_", "hunter2") if s in text]


async def test_every_mutation_leaves_one_event(live: LiveServer) -> None:
    client = await admin(live, "audited")
    schema = await client.gql("{ __schema { mutationType { fields { name } } } }")
    served = {f["name"] for f in schema["__schema"]["mutationType"]["fields"]}
    assert {run.operation for run in RUNS} == served, "RUNS must cover every mutation"
    refs = await build_world(client, "W")
    [key] = (await client.gql("{ apiKeys { id prefix } }"))["apiKeys"]
    for run in RUNS:
        if run.prepare is not None:
            await run.prepare(client, refs)
        before = {e["id"] for e in await events(client)}
        response = await client.post(run.query, run.variables(refs))
        body = response.json()
        assert not body.get("errors"), (run.operation, body)
        run.keep(refs, body["data"])
        new = [e for e in await events(client) if e["id"] not in before]
        assert len(new) == 1, (run.operation, new)
        [event] = new
        assert (event["operation"], event["outcome"]) == (run.operation, "OK"), event
        assert event["apiKey"] == {"id": key["id"], "prefix": key["prefix"], "scope": "ADMIN"}
        assert len(event["requestId"]) == 16
        assert sorted(event["accountIds"]) == sorted(run.accounts(refs)), event
        assert not secrets_in(event["variables"]), event
    await wait_for_background(client, refs["run"], refs["async_job"])
    # the named operation; the root field's arguments as given (inline ones too)
    [named] = await events(client, operation="createAccount", accountId=refs["new_account"])
    assert named["operationName"] == "AddAccount"
    assert json.loads(named["variables"]) == {"input": {"name": "audited"}}
    order = (await events(client, operation="createOrder", accountId=refs["customer"]))[0]
    assert json.loads(order["variables"])["input"]["subscriptions"][0]["actions"][0][
        "billingTerms"]["billingFrequency"] == "MONTHLY"
    [payment] = await events(client, operation="refundPayment")
    assert json.loads(payment["variables"]) == {"paymentId": refs["new_payment"],
                                                "amount": "1.00"}
    # the API offers no way to change or delete an event
    served_mutations = " ".join(sorted(served)).lower()
    assert "audit" not in served_mutations


async def test_failed_mutations_leave_an_event_with_their_code(live: LiveServer) -> None:
    client = await admin(live, "failing")
    read = await live.create_key(client.tenant_id, "read")
    write = await live.create_key(client.tenant_id, "write")
    failures = [
        (client.key, 'mutation { createAccount(input: {name: ""}) { id } }', "BAD_USER_INPUT"),
        (client.key, "mutation($id: ID!) { postInvoice(id: $id) { id } }", "NOT_FOUND"),
        (read, 'mutation { createAccount(input: {name: "r"}) { id } }', "FORBIDDEN"),
        (write, 'mutation { createApiKey(input: {scope: ADMIN}) { secret } }', "FORBIDDEN"),
    ]
    for key, query, code in failures:
        error = await client.error(query, {"id": "00000000-0000-0000-0000-000000000000"},
                                   key=key)
        assert error["extensions"]["code"] == code
    got = await events(client)
    assert [(e["operation"], e["outcome"]) for e in reversed(got)] == [
        ("createAccount", "BAD_USER_INPUT"), ("postInvoice", "NOT_FOUND"),
        ("createAccount", "FORBIDDEN"), ("createApiKey", "FORBIDDEN")]
    assert [e["apiKey"]["scope"] for e in reversed(got)] == ["ADMIN", "ADMIN", "READ", "WRITE"]
    assert (await events(client, outcome="FORBIDDEN", operation="createApiKey"))[0][
        "apiKey"]["scope"] == "WRITE"
    # a mutation that failed wrote nothing: no account named "" exists
    assert not await live.sql("SELECT 1 FROM accounts WHERE name = ''")


async def test_no_secret_in_any_event(live: LiveServer) -> None:
    client = await admin(live, "secretive")
    made = await client.gql('mutation { createApiKey(input: {scope: READ, description: '
                            '"copy of bgk_abcdefghijklmnop"}) { secret } }')
    secret = made["createApiKey"]["secret"]
    # secrets in any argument, by name or by shape, are masked
    await client.gql('mutation($s: String!) { createAccount(input: {name: $s}) { id } }',
                     {"s": f"leak {secret}"})
    await client.error('mutation { updateTenantSettings(input: {defaultCurrency: '
                       '"whsec_c2VjcmV0c2VjcmV0c2VjcmV0"}) { id } }')
    rows = await live.sql("SELECT variables::text AS v FROM audit_events "
                          "WHERE tenant_id = CAST(:t AS uuid)", t=client.tenant_id)
    stored = " ".join(r["v"] for r in rows) + " ".join(
        e["variables"] for e in await events(client))
    assert len(rows) == 3
    assert secret not in stored and not secrets_in(stored), stored
    assert "***" in stored
    # by name, at any depth (webhook endpoints' secrets, passwords, tokens)
    assert audit.mask({"input": {"url": "https://x", "secret": "s3", "signingSecret": "s4"},
                       "items": [{"password": "hunter2"}], "token": None}) == {
        "input": {"url": "https://x", "secret": "***", "signingSecret": "***"},
        "items": [{"password": "***"}], "token": None}


async def test_audit_pages_and_filters(live: LiveServer) -> None:
    client = await admin(live, "paged")
    for n in range(5):
        await client.gql('mutation($n: String!) { createProduct(input: {code: $n, name: $n}) '
                         "{ id } }", {"n": f"P{n}"})
    first = (await client.gql(EVENTS, {"first": 2}))["auditEvents"]
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"]
    rest = (await client.gql(EVENTS, {"first": 10, "after": first["pageInfo"]["endCursor"]}))[
        "auditEvents"]
    variables = [json.loads(e["node"]["variables"])["input"]["code"]
                 for page in (first, rest) for e in page["edges"]]
    assert variables == ["P4", "P3", "P2", "P1", "P0"]  # newest first
    newest = first["edges"][0]["node"]["occurredAt"]
    assert len(await events(client, since=newest)) == 1
    assert len(await events(client, until=newest)) == 4
    assert await events(client, outcome="NOT_FOUND") == []
    assert (await client.error(EVENTS, {"f": {"accountId": "nope"}}))["extensions"] == {
        "code": "NOT_FOUND", "field": "filter.accountId"}


async def test_event_api_keys_load_in_one_statement(database_url: str) -> None:
    """The apiKey of a page of events costs the same statements for 2 events as for 20."""
    async with start_server(database_url, run_workers=False, expose_sql_count=True) as live:
        client = await admin(live, "counted")
        for n in range(20):
            key = await live.create_key(client.tenant_id, "write") if n % 2 else client.key
            await client.gql('mutation($n: String!) { createProduct(input: {code: $n, '
                             'name: $n}) { id } }', {"n": f"C{n}"}, key=key)
        counts = []
        for first in (2, 20):
            response = await client.post(EVENTS, {"first": first})
            counts.append(response.json()["extensions"]["sqlStatements"])
        assert counts[0] == counts[1], counts
