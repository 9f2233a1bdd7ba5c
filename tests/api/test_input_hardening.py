"""Inputs the fuzzer found mishandled: text PostgreSQL cannot store (it was INTERNAL) and
bill runs far in the future (one call made invoices of 100,000 lines)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from tests.support import Client, LiveServer, Subscriber

CREATE = "mutation($n: String!) { createAccount(input: {name: $n}) { id } }"


@pytest.mark.parametrize("name", ["nul\x00inside", "lone \ud800 surrogate"])
async def test_unstorable_text_in_variables_is_bad_user_input(client: Client, name: str) -> None:
    body = json.dumps({"query": CREATE, "variables": {"n": name}})  # ASCII-escaped
    response = await client.http.post("/graphql", content=body, headers={
        "Authorization": f"Bearer {client.key}", "Content-Type": "application/json"})
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "$n"}


@pytest.mark.parametrize("literal", [r"nul\u0000inside", r"lone \ud800 surrogate"])
async def test_unstorable_text_in_literals_is_bad_user_input(client: Client, literal: str) -> None:
    error = await client.error(
        f'mutation {{ createProduct(input: {{code: "P", name: "{literal}"}}) {{ id }} }}')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"  # (the parser refuses \ud800)
    assert (await client.gql("{ products { code } }"))["products"] == []


async def test_a_bill_run_bills_at_most_ten_years_ahead(client: Client) -> None:
    start = "mutation($d: Date!) { billRun(input: {targetDate: $d}) { status } }"
    today = datetime.now(UTC).date()
    error = await client.error(start, {"d": "9999-12-31"})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "targetDate"}
    ahead = date(today.year + 10, today.month, 28 if today.day > 28 else today.day)
    assert (await client.gql(start, {"d": ahead.isoformat()}))["billRun"]["status"] == "PENDING"


async def test_many_same_named_fields_are_refused_before_validation(client: Client) -> None:
    # validation compares same-named fields pairwise: 1,000 of them cost about a second
    error = await client.error("{ " + "__typename " * 1000 + "}")
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "repeats fields" in error["message"]
    fragment = "fragment F on Tenant { " + "id " * 100 + "}"
    error = await client.error("{ viewer { id } } " + fragment)  # unused fragments count too
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    # a few repeats, as fragments make them, are fine
    await client.gql("{ viewer { id ...A ...B } } fragment A on Tenant { id name } "
                     "fragment B on Tenant { id name }")


async def test_long_documents_are_refused_before_parsing(client: Client) -> None:
    for query in ("{ viewer { id } }" + " " * 300_000, "{ viewer { id } } #" + "x" * 300_000):
        error = await client.error(query)
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert "longer than" in error["message"]
    error = await client.error("{ viewer { id } }" + " { viewer { id } }" * 2000)
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "more than 10000 tokens" in error["message"]


async def test_refusals_before_parsing_reach_websocket_clients_too(
        server: LiveServer, client: Client) -> None:
    async with Subscriber(server.url, client.key) as sub:
        await sub.ack()
        await sub.subscribe("subscription { metricsUpdated { account { id } } }"
                            + " " * 300_000)
        message = await sub.receive()
        assert message["type"] in ("error", "next"), message
        payload = message["payload"]
        errors = payload if isinstance(payload, list) else payload["errors"]
        assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        await sub.send({"type": "ping"})
        assert (await sub.receive())["type"] == "pong"


async def test_money_near_the_limit_stays_exact(client: Client) -> None:
    """Amounts near the Decimal scalar's limit lost their cents in Python arithmetic
    (the default context has 28 digits); found by fuzzing."""
    big = "100000000000000000000000000000.01"
    account = (await client.gql('mutation { createAccount(input: {name: "Big"}) { id } }'))[
        "createAccount"]["id"]
    made = await client.gql("""mutation($a: ID!, $p: Decimal!) { createStandaloneInvoices(inputs: [
      {accountId: $a, invoiceDate: "2026-01-01", lines: [
        {description: "big", unitPrice: $p, quantity: "1"},
        {description: "small", unitPrice: "0.01", quantity: "3"}]}]) {
      invoice { id amount lines { amount } } } }""", {"a": account, "p": big})
    invoice = made["createStandaloneInvoices"][0]["invoice"]
    assert [line["amount"] for line in invoice["lines"]] == [big, "0.03"]
    assert invoice["amount"] == "100000000000000000000000000000.04"
    paid = await client.gql("""mutation($a: ID!, $i: ID!) { createPayment(input: {accountId: $a,
      amount: "100000000000000000000000000000.05",
      applications: [{invoiceId: $i, amount: "100000000000000000000000000000.03"}]}) {
      unappliedAmount } }""", {"a": account, "i": invoice["id"]})
    assert paid["createPayment"]["unappliedAmount"] == "0.02"
    metrics = await client.gql("query($a: ID!) { metrics(accountId: $a) { balance "
                               "creditBalance } }", {"a": account})
    assert metrics["metrics"] == {"balance": "0.01", "creditBalance": "0.02"}


async def test_a_failing_field_does_not_break_its_siblings_shared_loads(client: Client) -> None:
    """graphql-core cancels the pending fields of an object that failed; the DataLoader
    future they awaited was shared with another field loading the same key, which then
    got a CancelledError that escaped as HTTP 500 (found by fuzzing)."""
    account = (await client.gql('mutation { createAccount(input: {name: "Shared"}) { id } }'))[
        "createAccount"]["id"]
    # account.metrics and metrics load the same key side by side; account fails
    response = await client.post("""query($id: ID!) { accountSummary(id: $id) {
      account { metrics { balance } subscriptions(after: "not a cursor") { totalCount } }
      metrics { balance } } }""", {"id": account})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert body["data"] == {"accountSummary": None}
