"""Helpers for the account-hierarchy tests: accounts under parents, roll-ups, documents."""

from __future__ import annotations

from typing import Any

from tests.support import Client

ROLLUP_FIELDS = ("currency accountCount balance creditBalance totalInvoiceBalance contractedMrr "
                 "lastMetricsUpdate stale")
ROLLUPS = f"query($id: ID!) {{ account(id: $id) {{ hierarchyMetrics {{ {ROLLUP_FIELDS} }} }} }}"
REFRESH = f"mutation($id: ID!) {{ refreshHierarchyMetrics(accountId: $id) {{ {ROLLUP_FIELDS} }} }}"
CREATE = """mutation($input: CreateAccountInput!) { createAccount(input: $input) { id } }"""
MOVE = """mutation($id: ID!, $input: UpdateAccountInput!) { updateAccount(id: $id, input: $input)
  { id depth parentAccount { id } } }"""
INVOICES = """mutation($inputs: [StandaloneInvoiceInput!]!) {
  createStandaloneInvoices(inputs: $inputs) { invoice { id amount } errors { code message } } }"""
PAY = """mutation($input: CreatePaymentInput!) { createPayment(input: $input) { id } }"""


async def account(client: Client, name: str, parent: str | None = None, *,
                  currency: str = "USD", partner: bool = False) -> str:
    data = await client.gql(CREATE, {"input": {
        "name": name, "currency": currency, "partnerAccount": partner,
        "parentAccountId": parent}})
    return str(data["createAccount"]["id"])


async def invoice(client: Client, account_id: str, amount: str) -> str:
    """A posted standalone invoice of one line (its amount is the open balance)."""
    [result] = (await client.gql(INVOICES, {"inputs": [{
        "accountId": account_id, "invoiceDate": "2026-11-01",
        "lines": [{"description": "service", "unitPrice": amount}]}]}))["createStandaloneInvoices"]
    assert result["errors"] == [], result
    return str(result["invoice"]["id"])


async def pay(client: Client, account_id: str, amount: str,
              invoice_id: str | None = None) -> None:
    """A payment; applied in full to `invoice_id` when given."""
    payment: dict[str, Any] = {"accountId": account_id, "amount": amount}
    if invoice_id is not None:
        payment["applications"] = [{"invoiceId": invoice_id, "amount": amount}]
    await client.gql(PAY, {"input": payment})


async def move(client: Client, account_id: str, parent: str | None) -> dict[str, Any]:
    change = {"parentAccountId": parent} if parent else {"detachFromParent": True}
    return dict((await client.gql(MOVE, {"id": account_id, "input": change}))["updateAccount"])


async def rollups(client: Client, account_id: str) -> dict[str, dict[str, Any]]:
    rows = (await client.gql(ROLLUPS, {"id": account_id}))["account"]["hierarchyMetrics"]
    return {row["currency"]: row for row in rows}


async def refresh(client: Client, account_id: str) -> dict[str, dict[str, Any]]:
    rows = (await client.gql(REFRESH, {"id": account_id}))["refreshHierarchyMetrics"]
    return {row["currency"]: row for row in rows}


def sums(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """currency → (accountCount, balance, creditBalance, totalInvoiceBalance, contractedMrr)."""
    return {c: (r["accountCount"], r["balance"], r["creditBalance"], r["totalInvoiceBalance"],
                r["contractedMrr"]) for c, r in rows.items()}
