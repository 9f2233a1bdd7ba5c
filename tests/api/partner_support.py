"""Helpers for the partner-account tests: a catalog, orders, and an independent recompute."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.support import Client, LiveServer

METRIC_FIELDS = ("balance creditBalance totalInvoiceBalance totalDebitMemoBalance "
                 "unappliedPaymentAmount unappliedCreditMemoAmount lastInvoiceDate "
                 "contractedMrr stale lastMetricsUpdate")
METRICS = f"query($id: ID!) {{ metrics(accountId: $id) {{ {METRIC_FIELDS} }} }}"
REFRESH = f"mutation($id: ID!) {{ refreshMetrics(accountId: $id) {{ {METRIC_FIELDS} }} }}"
CREATE_ORDER = """mutation($input: CreateOrderInput!) { createOrder(input: $input) {
  orderNumber subscriptions { subscription { subscriptionNumber mrr } } } }"""
CREATE_INVOICES = """mutation($inputs: [StandaloneInvoiceInput!]!) {
  createStandaloneInvoices(inputs: $inputs) { invoice { id amount } errors { code message } } }"""
CREATE_PAYMENT = """mutation($input: CreatePaymentInput!) { createPayment(input: $input) {
  id amount } }"""
APPLY_PAYMENT = """mutation($id: ID!, $apps: [ApplicationInput!]!) {
  applyPayment(paymentId: $id, applications: $apps) { id appliedAmount } }"""


async def account(client: Client, name: str, partner: bool) -> str:
    data = await client.gql("mutation($n: String!, $p: Boolean) { createAccount(input: "
                            "{name: $n, partnerAccount: $p}) { id } }", {"n": name, "p": partner})
    return str(data["createAccount"]["id"])


async def catalog(client: Client) -> None:
    """Plan FLEET: TRACKER 12.00 a month and SUPPORT 60.00 a quarter (USD)."""
    for code in ("TRACKER", "SUPPORT"):
        await client.gql("mutation($c: String!) { createProduct(input: {code: $c, name: $c}) "
                         "{ id } }", {"c": code})
    await client.gql("""mutation { createPricePlan(input: {code: "FLEET", name: "Fleet", charges: [
        {productCode: "TRACKER", chargeType: RECURRING, price: "12.00"},
        {productCode: "SUPPORT", chargeType: RECURRING, price: "60.00", pricePeriod: QUARTERLY}
      ]}) { id } }""")


def new_subscription(owner: str, invoice_owner: str, start: str = "2026-01-01",
                     quantity: int = 1) -> dict[str, Any]:
    return {"actions": [{
        "type": "CREATE_SUBSCRIPTION", "effectiveDate": start,
        "subscriptionOwnerAccountId": owner, "invoiceOwnerAccountId": invoice_owner,
        "billingTerms": {"pricePlan": {"code": "FLEET"}, "agreementDate": start,
                         "billingFrequency": "MONTHLY"},
        "items": [{"productCode": "TRACKER", "quantity": quantity},
                  {"productCode": "SUPPORT"}],
    }]}


def order(account_id: str, *subscriptions: dict[str, Any],
          date: str = "2026-01-01") -> dict[str, Any]:
    return {"input": {"accountId": account_id, "orderDate": date,
                      "subscriptions": list(subscriptions)}}


def invoice(account_id: str, amount: str, date: str = "2025-12-31") -> dict[str, Any]:
    return {"accountId": account_id, "invoiceDate": date,
            "lines": [{"description": "migrated", "unitPrice": amount}]}


async def metrics(client: Client, account_id: str) -> dict[str, Any]:
    return dict((await client.gql(METRICS, {"id": account_id}))["metrics"])


async def refresh(client: Client, account_id: str) -> dict[str, Any]:
    return dict((await client.gql(REFRESH, {"id": account_id}))["refreshMetrics"])


def money(value: Any) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


async def recomputed(server: LiveServer, account_id: str) -> dict[str, Any]:
    """The account's metrics computed afresh from the documents, independently of the
    service's recompute (SPEC §2), in the API's spelling."""
    [owner] = await server.sql("SELECT tenant_id FROM accounts WHERE id = :a", a=account_id)
    [row] = await server.sql("""
      SELECT
        (SELECT coalesce(sum(balance), 0) FROM invoices
          WHERE tenant_id = :t AND account_id = :a AND status = 'POSTED') AS inv,
        (SELECT max(invoice_date) FROM invoices
          WHERE tenant_id = :t AND account_id = :a AND status = 'POSTED') AS last,
        (SELECT coalesce(sum(balance), 0) FROM debit_memos
          WHERE tenant_id = :t AND account_id = :a AND status = 'POSTED') AS dm,
        (SELECT coalesce(sum(amount - applied_amount - refunded_amount), 0) FROM payments
          WHERE tenant_id = :t AND account_id = :a) AS pay,
        (SELECT coalesce(sum(amount - applied_amount - refunded_amount), 0) FROM credit_memos
          WHERE tenant_id = :t AND account_id = :a AND status = 'POSTED') AS cm,
        (SELECT coalesce(sum(i.mrr), 0) FROM subscriptions s JOIN subscription_items i
           ON i.tenant_id = s.tenant_id AND i.subscription_id = s.id
          WHERE s.tenant_id = :t AND s.owner_account_id = :a AND s.status <> 'CANCELLED'
            AND s.cancelled_on IS NULL
            AND i.end_date IS NULL AND i.charge_type = 'RECURRING') AS mrr
    """, a=account_id, t=owner["tenant_id"])
    return {
        "totalInvoiceBalance": money(row["inv"]), "totalDebitMemoBalance": money(row["dm"]),
        "balance": money(row["inv"] + row["dm"]),
        "unappliedPaymentAmount": money(row["pay"]), "unappliedCreditMemoAmount": money(row["cm"]),
        "creditBalance": money(row["pay"] + row["cm"]),
        "lastInvoiceDate": row["last"].isoformat() if row["last"] else None,
        "contractedMrr": money(row["mrr"]),
    }


def amounts(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k not in ("stale", "lastMetricsUpdate")}
