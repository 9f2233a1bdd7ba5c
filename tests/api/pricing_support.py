"""Pricing-model and usage tests: plans with priced charges, usage records, summaries."""

from __future__ import annotations

from typing import Any

from tests.support import Client

# 1–100 at 10.00, 101+ at 8.00 with a flat fee of 50.00 on the second tier
SEAT_TIERS = [{"upTo": "100", "unitPrice": "10.00"},
              {"upTo": None, "unitPrice": "8.00", "flatFee": "50.00"}]
RECORD = """mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) {
  recordId accepted duplicate errors { code message field } } }"""
USAGE = """query($n: String!, $from: Date, $to: Date) { subscription(subscriptionNumber: $n) {
  usage(from: $from, to: $to) { product { code } periodStart periodEnd quantity recordCount
    amount billed } } }"""
LINES = """query($id: ID!) { invoices(first: 100, filter: {accountId: $id}) { edges { node {
  amount lines { description quantity unitPrice amount servicePeriodStart servicePeriodEnd
    chargeType pricingModel product { code } } } } } }"""


async def priced_plan(client: Client, code: str, *charges: dict[str, Any]) -> dict[str, Any]:
    """A price plan of `charges` (PlanChargeInput); their products are created as needed."""
    have = {p["code"] for p in (await client.gql("{ products { code } }"))["products"]}
    for charge in charges:
        if charge["productCode"] not in have:
            await client.gql("mutation($c: String!) { createProduct(input: {code: $c, name: $c})"
                             " { id } }", {"c": charge["productCode"]})
            have.add(charge["productCode"])
    data = await client.gql(
        """mutation($i: CreatePricePlanInput!) { createPricePlan(input: $i) { code charges {
          product { code } chargeType price pricingModel packageSize usageAggregation
          unitOfMeasure tiers { upTo unitPrice flatFee } } } }""",
        {"i": {"code": code, "name": code, "charges": list(charges)}})
    return dict(data["createPricePlan"])


def usage_record(record_id: str, subscription: str, product: str, quantity: str,
                 timestamp: str) -> dict[str, str]:
    return {"recordId": record_id, "subscriptionNumber": subscription, "productCode": product,
            "quantity": quantity, "timestamp": timestamp}


async def record(client: Client, *records: dict[str, str]) -> list[dict[str, Any]]:
    return list((await client.gql(RECORD, {"r": list(records)}))["recordUsage"])


async def usage(client: Client, subscription: str, start: str | None = None,
                end: str | None = None) -> list[dict[str, Any]]:
    data = await client.gql(USAGE, {"n": subscription, "from": start, "to": end})
    return list(data["subscription"]["usage"])


async def invoice_lines(client: Client, account_id: str) -> list[list[dict[str, Any]]]:
    """The lines of each invoice of the account, oldest first."""
    data = await client.gql(LINES, {"id": account_id})
    return [e["node"]["lines"] for e in data["invoices"]["edges"]]


def billed(lines: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(product, period start, period end, amount) of each line."""
    return [(ln["product"]["code"], ln["servicePeriodStart"], ln["servicePeriodEnd"],
             ln["amount"]) for ln in lines]
