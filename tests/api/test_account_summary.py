"""accountSummary: an account with its metrics, subscriptions, invoices and payments."""

from __future__ import annotations

from tests.api.order_support import catalog, create_account, subscribe
from tests.support import Client

SUMMARY = """query($id: ID, $number: String) { accountSummary(id: $id, accountNumber: $number) {
  account { id accountNumber } metrics { contractedMrr balance creditBalance }
  subscriptions { subscriptionNumber mrr ownerAccount { id } }
  invoices { invoiceNumber amount status } payments { paymentNumber amount } } }"""


async def test_account_summary(client: Client) -> None:
    await catalog(client)
    account = await create_account(client, "Summed", accountNumber="SUM-1")
    other = await create_account(client, "Other")
    first = await subscribe(client, account)
    second = await subscribe(client, account, invoiceOwnerAccountId=other)
    await subscribe(client, other, invoiceOwnerAccountId=account)  # billed to it, not owned
    await client.gql("""mutation($a: ID!) { createStandaloneInvoices(inputs: [
        {accountId: $a, invoiceDate: "2026-01-31", invoiceNumber: "INV-A",
         lines: [{description: "x", unitPrice: "100.00"}]}]) { errors { code } } }""",
                     {"a": account})
    await client.gql('mutation($a: ID!) { createPayment(input: {accountId: $a, amount: "30.00"}) '
                     "{ id } }", {"a": account})
    by_id = (await client.gql(SUMMARY, {"id": account}))["accountSummary"]
    by_number = (await client.gql(SUMMARY, {"number": "SUM-1"}))["accountSummary"]
    assert by_id == by_number
    assert by_id["account"] == {"id": account, "accountNumber": "SUM-1"}
    assert by_id["metrics"]["contractedMrr"] == "40.00"
    assert by_id["metrics"]["creditBalance"] == "30.00"
    assert [s["subscriptionNumber"] for s in by_id["subscriptions"]] == [
        first["subscriptionNumber"], second["subscriptionNumber"]]
    assert {s["ownerAccount"]["id"] for s in by_id["subscriptions"]} == {account}
    assert [(i["invoiceNumber"], i["amount"]) for i in by_id["invoices"]] == [
        ("INV-A", "100.00")]
    assert [p["amount"] for p in by_id["payments"]] == ["30.00"]
    empty = (await client.gql(SUMMARY, {"id": other}))["accountSummary"]
    assert empty["invoices"] == [] and empty["payments"] == []
    assert len(empty["subscriptions"]) == 1


async def test_unknown_account_summary(client: Client) -> None:
    error = await client.error(SUMMARY, {"number": "nope"})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "accountNumber"}
    neither = await client.error(SUMMARY, {})
    assert neither["extensions"]["code"] == "BAD_USER_INPUT"
