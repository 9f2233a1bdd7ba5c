"""Shared GraphQL documents and helpers for the billing-document tests."""

from __future__ import annotations

from typing import Any

from tests.support import Client

METRICS = ("balance creditBalance totalInvoiceBalance totalDebitMemoBalance "
           "unappliedPaymentAmount unappliedCreditMemoAmount lastInvoiceDate stale")
INVOICE = f"""id invoiceNumber invoiceDate dueDate status amount balance currency
  account {{ id metrics {{ {METRICS} }} }}
  lines {{ description quantity unitPrice amount servicePeriodStart servicePeriodEnd }}"""
CREATE_INVOICES = f"""mutation($inputs: [StandaloneInvoiceInput!]!, $key: String) {{
  createStandaloneInvoices(inputs: $inputs, idempotencyKey: $key) {{
    invoice {{ {INVOICE} }} errors {{ code message field }} }} }}"""
PAYMENT = f"""id paymentNumber amount appliedAmount refundedAmount unappliedAmount effectiveDate
  account {{ metrics {{ {METRICS} }} }}"""
CREDIT_MEMO = f"""id memoNumber amount appliedAmount refundedAmount unappliedAmount status reason
  account {{ metrics {{ {METRICS} }} }}"""
DEBIT_MEMO = f"""id memoNumber amount balance status account {{ metrics {{ {METRICS} }} }}"""


def metrics(*, invoices: str, debit_memos: str, balance: str, payments: str, credit_memos: str,
            credit: str, last: str | None, stale: bool = False) -> dict[str, Any]:
    """Every invoice-owner metric, spelled out (amounts as the API prints them)."""
    return {"totalInvoiceBalance": invoices, "totalDebitMemoBalance": debit_memos,
            "balance": balance, "unappliedPaymentAmount": payments,
            "unappliedCreditMemoAmount": credit_memos, "creditBalance": credit,
            "lastInvoiceDate": last, "stale": stale}


ZERO = metrics(invoices="0.00", debit_memos="0.00", balance="0.00", payments="0.00",
               credit_memos="0.00", credit="0.00", last=None)


async def create_account(client: Client, name: str = "Customer", **extra: Any) -> str:
    data = await client.gql("mutation($input: CreateAccountInput!) { createAccount(input: $input) "
                            "{ id } }", {"input": {"name": name, **extra}})
    return str(data["createAccount"]["id"])


def invoice_input(account_id: str, *prices: str, date: str = "2026-01-31",
                  **extra: Any) -> dict[str, Any]:
    """A standalone invoice with one line per price (quantity 1)."""
    return {"accountId": account_id, "invoiceDate": date,
            "lines": [{"description": f"line {n}", "unitPrice": p} for n, p in enumerate(prices)],
            **extra}


async def create_invoices(client: Client, *inputs: dict[str, Any],
                          key: str | None = None) -> list[dict[str, Any]]:
    data = await client.gql(CREATE_INVOICES, {"inputs": list(inputs), "key": key})
    return list(data["createStandaloneInvoices"])


async def create_invoice(client: Client, account_id: str, *prices: str,
                         **extra: Any) -> dict[str, Any]:
    [result] = await create_invoices(client, invoice_input(account_id, *prices, **extra))
    assert result["errors"] == []
    return dict(result["invoice"])


async def account_metrics(client: Client, account_id: str) -> dict[str, Any]:
    data = await client.gql(f"query($id: ID!) {{ metrics(accountId: $id) {{ {METRICS} }} }}",
                            {"id": account_id})
    return dict(data["metrics"])


async def invoice(client: Client, invoice_id: str) -> dict[str, Any]:
    data = await client.gql(f"query($id: ID!) {{ invoice(id: $id) {{ {INVOICE} }} }}",
                            {"id": invoice_id})
    return dict(data["invoice"])
