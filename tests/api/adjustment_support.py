"""Discount and tax tests: create them through the API, read invoices with their taxes."""

from __future__ import annotations

from typing import Any

from tests.support import Client

DETAILED = """query($id: ID!) { invoices(first: 100, filter: {accountId: $id}) { edges { node {
  id invoiceNumber status amount balance currency subtotal discountAmount taxAmount
  lines { description amount discountAmount taxAmount servicePeriodStart servicePeriodEnd
          product { code } taxes { taxRate { code } percentage amount } } } } } }"""


async def discount(client: Client, code: str, kind: str, value: str, **extra: Any
                   ) -> dict[str, Any]:
    field = "percentage" if kind == "PERCENTAGE" else "amount"
    if kind == "FIXED_AMOUNT":
        extra.setdefault("currency", "USD")
    data = await client.gql(
        "mutation($i: CreateDiscountInput!) { createDiscount(input: $i) { id code type "
        "percentage amount currency durationPeriods productCodes } }",
        {"i": {"code": code, "name": code, "type": kind, field: value, **extra}})
    return dict(data["createDiscount"])


async def apply(client: Client, subscription: str, code: str, start: str | None = None
                ) -> dict[str, Any]:
    data = await client.gql(
        "mutation($i: ApplyDiscountInput!) { applyDiscount(input: $i) { id startDate endDate "
        "discount { code } } }",
        {"i": {"subscriptionNumber": subscription, "discountCode": code,
               **({"startDate": start} if start else {})}})
    return dict(data["applyDiscount"])


async def tax_rate(client: Client, code: str, percentage: str, country: str,
                   region: str | None = None, **extra: Any) -> dict[str, Any]:
    data = await client.gql(
        "mutation($i: CreateTaxRateInput!) { createTaxRate(input: $i) { id code percentage "
        "country region productCodes active } }",
        {"i": {"code": code, "name": code, "percentage": percentage, "country": country,
               **({"region": region} if region else {}), **extra}})
    return dict(data["createTaxRate"])


async def detailed(client: Client, account_id: str) -> list[dict[str, Any]]:
    data = await client.gql(DETAILED, {"id": account_id})
    return [e["node"] for e in data["invoices"]["edges"]]


def adjusted(invoice: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(period start, amount, discountAmount, taxAmount) of each line."""
    return [(ln["servicePeriodStart"], ln["amount"], ln["discountAmount"], ln["taxAmount"])
            for ln in invoice["lines"]]


def totals(invoice: dict[str, Any]) -> tuple[str, str, str, str]:
    return (invoice["subtotal"], invoice["discountAmount"], invoice["taxAmount"],
            invoice["amount"])


def taxes(line: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((t["taxRate"]["code"], t["percentage"], t["amount"]) for t in line["taxes"])
