"""Discounts and tax rates through the API: validation naming the field, idempotency,
standalone invoices with applyTaxes, partner metrics, flat statement counts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.api.adjustment_support import apply, detailed, discount, tax_rate, totals
from tests.api.bill_run_support import account, bill, plan, subscribe
from tests.support import Client, LiveServer, start_server

CREATE_DISCOUNT = """mutation($i: CreateDiscountInput!, $k: String) {
  createDiscount(input: $i, idempotencyKey: $k) { id code } }"""
CREATE_RATE = "mutation($i: CreateTaxRateInput!) { createTaxRate(input: $i) { id } }"
STANDALONE = """mutation($inputs: [StandaloneInvoiceInput!]!) {
  createStandaloneInvoices(inputs: $inputs) { invoice { id } errors { field message } } }"""
GERMANY = {"billingAddress": {"country": "DE"}}


def standalone(owner: str, price: str, **extra: Any) -> dict[str, Any]:
    return {"accountId": owner, "invoiceDate": "2026-01-31",
            "lines": [{"description": "Migrated", "unitPrice": price}], **extra}


async def test_bad_input_names_the_field(client: Client) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    cases: list[tuple[str, dict[str, Any], str]] = [
        (CREATE_DISCOUNT, {"code": "X", "name": "X", "type": "PERCENTAGE", "percentage": "0"},
         "percentage"),
        (CREATE_DISCOUNT, {"code": "X", "name": "X", "type": "PERCENTAGE",
                           "percentage": "100.01"}, "percentage"),
        (CREATE_DISCOUNT, {"code": "X", "name": "X", "type": "FIXED_AMOUNT", "amount": "5"},
         "currency"),
        (CREATE_DISCOUNT, {"code": "X", "name": "X", "type": "FIXED_AMOUNT", "amount": "-5",
                           "currency": "USD"}, "amount"),
        (CREATE_DISCOUNT, {"code": "X", "name": "X", "type": "PERCENTAGE", "percentage": "5",
                           "durationPeriods": 0}, "durationPeriods"),
        (CREATE_DISCOUNT, {"code": "X", "name": "X", "type": "PERCENTAGE", "percentage": "5",
                           "productCodes": ["SEAT", "NOPE"]}, "productCodes[1]"),
        (CREATE_RATE, {"code": "T", "name": "T", "percentage": "19", "country": "Germany"},
         "country"),
        (CREATE_RATE, {"code": "T", "name": "T", "percentage": "101", "country": "DE"},
         "percentage"),
    ]
    for query, value, field in cases:
        error = await client.error(query, {"i": value})
        assert (error["extensions"]["code"], error["extensions"].get("field")) in {
            ("BAD_USER_INPUT", field), ("NOT_FOUND", field)}, (value, error)
    assert (await client.gql("{ discounts { code } taxRates { code } }")) == {
        "discounts": [], "taxRates": []}  # nothing half-written
    error = await client.error(
        "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }",
        {"i": {"name": "A", "billingAddress": {"country": "deu"}}})
    assert error["extensions"]["field"] == "billingAddress.country"
    # a fixed discount in another currency than the subscription's
    await discount(client, "EUR5", "FIXED_AMOUNT", "5.00", currency="EUR")
    owner = await account(client, "Owner")
    sub = await subscribe(client, owner, "2026-01-01", items=[{"productCode": "SEAT"}])
    error = await client.error(
        "mutation($i: ApplyDiscountInput!) { applyDiscount(input: $i) { id } }",
        {"i": {"subscriptionNumber": sub["subscriptionNumber"], "discountCode": "EUR5"}})
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("BAD_USER_INPUT",
                                                                           "discountCode")


async def test_create_discount_is_idempotent_and_remove_ends_it(client: Client) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    value = {"code": "P10", "name": "Ten", "type": "PERCENTAGE", "percentage": "10"}
    first = await client.gql(CREATE_DISCOUNT, {"i": value, "k": "k-1"})
    again = await client.gql(CREATE_DISCOUNT, {"i": value, "k": "k-1"})
    assert first == again
    error = await client.error(CREATE_DISCOUNT, {"i": {**value, "percentage": "11"}, "k": "k-1"})
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    error = await client.error(CREATE_DISCOUNT, {"i": value})
    assert (error["extensions"]["code"], error["extensions"]["field"]) == ("CONFLICT", "code")
    owner = await account(client, "Owner")
    sub = await subscribe(client, owner, "2026-01-01", items=[{"productCode": "SEAT"}])
    attached = await apply(client, sub["subscriptionNumber"], "P10")
    assert (attached["startDate"], attached["endDate"]) == ("2026-01-01", None)
    removed = await client.gql(
        "mutation($id: ID!) { removeDiscount(subscriptionDiscountId: $id, "
        "endDate: \"2026-02-14\") { endDate } }", {"id": attached["id"]})
    assert removed["removeDiscount"]["endDate"] == "2026-02-14"
    data = await client.gql("query($id: ID!) { account(id: $id) { subscriptions(first: 5) { "
                            "edges { node { discounts { endDate discount { code } } } } } } }",
                            {"id": owner})
    [edge] = data["account"]["subscriptions"]["edges"]
    assert edge["node"]["discounts"] == [{"endDate": "2026-02-14", "discount": {"code": "P10"}}]


async def test_standalone_invoices_are_taxed_only_with_apply_taxes(client: Client) -> None:
    await tax_rate(client, "DE-VAT", "19", "DE")
    owner = await account(client, "Migrated", **GERMANY)
    data = await client.gql(STANDALONE, {"inputs": [
        standalone(owner, "100.00"), standalone(owner, "100.00", applyTaxes=True)]})
    assert [r["errors"] for r in data["createStandaloneInvoices"]] == [[], []]
    # created in one call: their ids (UUIDv7 within one millisecond) do not order them
    plain, taxed = sorted(await detailed(client, owner), key=lambda i: Decimal(i["amount"]))
    assert totals(plain) == ("100.00", "0", "0", "100.00")
    # 19 % of 100.00 = 19.00
    assert totals(taxed) == ("100.00", "0", "19.00", "119.00")
    assert taxed["lines"][0]["taxes"] == [{"taxRate": {"code": "DE-VAT"}, "percentage": "19",
                                           "amount": "19.00"}]
    metrics = await client.gql("query($id: ID!) { account(id: $id) { metrics { balance } } }",
                               {"id": owner})
    assert metrics["account"]["metrics"]["balance"] == "219.00"


async def test_a_partner_resellers_metrics_see_the_taxed_amount(
        client: Client, server: LiveServer) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    await discount(client, "MARGIN", "PERCENTAGE", "25")
    await tax_rate(client, "DE-VAT", "19", "DE")
    reseller = await account(client, "Reseller", partnerAccount=True, **GERMANY)
    user = await account(client, "End user")  # no address: the reseller's taxes apply
    sub = await subscribe(client, user, "2026-01-01", invoice_owner=reseller,
                          items=[{"productCode": "SEAT", "quantity": 4}])
    await apply(client, sub["subscriptionNumber"], "MARGIN")
    await bill(client, server, "2026-01-01")
    [inv] = await detailed(client, reseller)
    # 4 x 10.00 = 40.00, 25 % = 10.00, 19 % of 30.00 = 5.70: 35.70
    assert totals(inv) == ("40.00", "10.00", "5.70", "35.70")
    data = await client.gql("mutation($id: ID!) { refreshMetrics(accountId: $id) { balance "
                            "totalInvoiceBalance stale } }", {"id": reseller})
    assert data["refreshMetrics"] == {"balance": "35.70", "totalInvoiceBalance": "35.70",
                                      "stale": False}


async def test_line_taxes_and_discounts_take_the_same_statements_for_2_or_20(
        server: LiveServer) -> None:
    invoices_query = """{ accounts(first: 5) { edges { node { invoices(first: 50) { edges {
      node { taxAmount lines { taxAmount taxes { percentage amount taxRate { code } } } }
      } } } } } }"""
    subscriptions_query = """{ accounts(first: 5) { edges { node { subscriptions(first: 50) {
      edges { node { discounts { startDate discount { code } } } } } } } } }"""
    async with start_server(server.database_url, run_workers=False,
                            expose_sql_count=True) as live:
        counts: dict[str, list[int]] = {"invoices": [], "subscriptions": []}
        for n in (2, 20):
            async with live.new_tenant(f"adjust-{n}") as client:
                await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
                await tax_rate(client, "DE-VAT", "19", "DE")
                await tax_rate(client, "DE-X", "1", "DE")
                await discount(client, "P10", "PERCENTAGE", "10")
                owner = await account(client, "Owner", **GERMANY)
                await client.gql(STANDALONE, {"inputs": [
                    standalone(owner, "10.00", applyTaxes=True) for _ in range(n)]})
                for _ in range(n):
                    sub = await subscribe(client, owner, "2026-01-01",
                                          items=[{"productCode": "SEAT"}])
                    await apply(client, sub["subscriptionNumber"], "P10")
                for name, query in (("invoices", invoices_query),
                                    ("subscriptions", subscriptions_query)):
                    body = (await client.post(query)).json()
                    assert "errors" not in body, body
                    [edge] = body["data"]["accounts"]["edges"]
                    assert len(edge["node"][name]["edges"]) == n
                    counts[name].append(body["extensions"]["sqlStatements"])
        assert counts["invoices"][0] == counts["invoices"][1]
        assert counts["subscriptions"][0] == counts["subscriptions"][1]
