"""Catalog: products, price plans with charges, billing term schemes, users."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.order_support import charge, create_plan, create_product
from tests.support import Client, LiveServer

PLAN = "id code name currency charges { product { code name } chargeType price pricePeriod }"
CREATE_PLAN = f"""mutation($input: CreatePricePlanInput!) {{ createPricePlan(input: $input) {{
  {PLAN} }} }}"""
CREATE_SCHEME = """mutation($input: CreateBillingTermSchemeInput!) {
  createBillingTermScheme(input: $input) { id code type billingCycleDay concurrentUsageBased } }"""
CREATE_PRODUCT = """mutation($input: CreateProductInput!) { createProduct(input: $input) {
  id code name } }"""


async def counts(server: LiveServer, client: Client) -> tuple[int, int, int, int]:
    [row] = await server.sql(
        "SELECT (SELECT count(*) FROM products WHERE tenant_id = :t) AS products, "
        "(SELECT count(*) FROM price_plans WHERE tenant_id = :t) AS plans, "
        "(SELECT count(*) FROM plan_charges WHERE tenant_id = :t) AS charges, "
        "(SELECT count(*) FROM billing_term_schemes WHERE tenant_id = :t) AS schemes",
        t=client.tenant_id)
    return row["products"], row["plans"], row["charges"], row["schemes"]


async def test_products(client: Client) -> None:
    made = await create_product(client, "GOLD", "Gold support")
    await create_product(client, "BRONZE", " Bronze ")
    products = (await client.gql("{ products { id code name } }"))["products"]
    assert [p["code"] for p in products] == ["BRONZE", "GOLD"]
    assert products[1] == made == {**made, "code": "GOLD", "name": "Gold support"}
    assert products[0]["name"] == "Bronze"


async def test_price_plan_defaults_and_lookups(client: Client) -> None:
    await create_product(client, "A")
    await create_product(client, "B")
    plan = (await client.gql(CREATE_PLAN, {"input": {
        "code": "P1", "name": "Plan one",
        "charges": [charge("A", "9.99"), charge("B", "100", "ONE_TIME", "ANNUAL")]}}))[
        "createPricePlan"]
    assert plan["currency"] == "USD"
    assert plan["charges"] == [
        {"product": {"code": "A", "name": "A"}, "chargeType": "RECURRING", "price": "9.99",
         "pricePeriod": "MONTHLY"},
        {"product": {"code": "B", "name": "B"}, "chargeType": "ONE_TIME", "price": "100",
         "pricePeriod": "ANNUAL"},
    ]
    eur = await create_plan(client, "P2", charge("A", "0"), currency="EUR")
    assert eur["currency"] == "EUR"
    by_id = await client.gql(f"query($id: ID) {{ pricePlan(id: $id) {{ {PLAN} }} }}",
                             {"id": plan["id"]})
    by_code = await client.gql(f'{{ pricePlan(code: "P1") {{ {PLAN} }} }}')
    both = await client.gql(f'query($id: ID) {{ pricePlan(id: $id, code: "P1") {{ {PLAN} }} }}',
                            {"id": plan["id"]})
    assert by_id["pricePlan"] == by_code["pricePlan"] == both["pricePlan"] == plan
    plans = (await client.gql("{ pricePlans { code charges { price } } }"))["pricePlans"]
    assert plans == [{"code": "P1", "charges": [{"price": "9.99"}, {"price": "100"}]},
                     {"code": "P2", "charges": [{"price": "0"}]}]


async def test_price_plan_lookup_errors(client: Client) -> None:
    await create_product(client, "A")
    one = await create_plan(client, "P1", charge("A", "1"))
    await create_plan(client, "P2", charge("A", "2"))
    query = "query($id: ID, $code: String) { pricePlan(id: $id, code: $code) { code } }"
    mismatch = await client.error(query, {"id": one["id"], "code": "P2"})
    assert mismatch["extensions"] == {"code": "BAD_USER_INPUT", "field": "code"}
    half_known = await client.error(query, {"id": one["id"], "code": "NOPE"})
    assert half_known["extensions"]["code"] == "BAD_USER_INPUT"
    neither = await client.error(query, {})
    assert neither["extensions"]["code"] == "BAD_USER_INPUT"
    unknown = await client.error(query, {"code": "NOPE"})
    assert unknown["extensions"] == {"code": "NOT_FOUND", "field": "code"}


async def test_plan_currency_defaults_to_tenant_currency(client: Client) -> None:
    await client.gql('mutation { updateTenantSettings(input: {defaultCurrency: "JPY"}) { id } }')
    await create_product(client, "A")
    assert (await create_plan(client, "P", charge("A", "100")))["currency"] == "JPY"


async def test_custom_price_period_needs_a_tenant_definition(client: Client) -> None:
    await create_product(client, "A")
    error = await client.error(CREATE_PLAN, {"input": {
        "code": "P", "name": "P", "charges": [charge("A", "1", period="CUSTOM2")]}})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "charges[0].pricePeriod"}
    await client.gql("""mutation { updateTenantSettings(input: {customPeriods: [
        {name: "CUSTOM2", unit: "WEEK", count: 2}]}) { id } }""")
    plan = await create_plan(client, "P", charge("A", "1", period="CUSTOM2"))
    assert plan["charges"][0]["pricePeriod"] == "CUSTOM2"


@pytest.mark.parametrize(
    ("input", "code", "field"),
    [
        ({"charges": [charge("A", "-0.01")]}, "BAD_USER_INPUT", "charges[0].price"),
        ({"charges": [charge("A", "1"), charge("NOPE", "1")]}, "BAD_USER_INPUT",
         "charges[1].productCode"),
        ({"charges": [charge("A", "1"), charge("A", "2")]}, "BAD_USER_INPUT",
         "charges[1].productCode"),
        ({"charges": []}, "BAD_USER_INPUT", "charges"),
        ({"currency": "XYZ"}, "BAD_USER_INPUT", "currency"),
        ({"code": " "}, "BAD_USER_INPUT", "code"),
        ({"name": ""}, "BAD_USER_INPUT", "name"),
        ({"code": "TAKEN"}, "CONFLICT", "code"),
    ],
)
async def test_price_plan_validation(server: LiveServer, client: Client, input: dict[str, Any],
                                     code: str, field: str) -> None:
    await create_product(client, "A")
    await create_plan(client, "TAKEN", charge("A", "1"))
    before = await counts(server, client)
    error = await client.error(CREATE_PLAN, {"input": {
        "code": "NEW", "name": "New", "charges": [charge("A", "1")], **input}})
    assert error["extensions"] == {"code": code, "field": field}
    assert field in error["message"] or code == "CONFLICT"
    assert await counts(server, client) == before


async def test_product_validation(server: LiveServer, client: Client) -> None:
    await create_product(client, "A")
    before = await counts(server, client)
    taken = await client.error(CREATE_PRODUCT, {"input": {"code": "A", "name": "again"}})
    assert taken["extensions"] == {"code": "CONFLICT", "field": "code"}
    empty = await client.error(CREATE_PRODUCT, {"input": {"code": "B", "name": " "}})
    assert empty["extensions"] == {"code": "BAD_USER_INPUT", "field": "name"}
    assert await counts(server, client) == before


async def test_codes_are_per_tenant(server: LiveServer, client: Client) -> None:
    await create_product(client, "A")
    async with server.new_tenant("other") as other:
        assert (await create_product(other, "A"))["code"] == "A"
        assert [p["code"] for p in (await other.gql("{ products { code } }"))["products"]] == ["A"]
        error = await other.error('{ pricePlan(code: "BASIC") { id } }')
        assert error["extensions"]["code"] == "NOT_FOUND"


async def test_billing_term_schemes(server: LiveServer, client: Client) -> None:
    schemes = (await client.gql(
        "{ billingTermSchemes { code type billingCycleDay concurrentUsageBased } }"))
    assert schemes["billingTermSchemes"] == [
        {"code": "DEFAULT", "type": "NORMAL", "billingCycleDay": 1, "concurrentUsageBased": False}]
    made = (await client.gql(CREATE_SCHEME, {"input": {"code": "ONCE", "type": "ONE_TIME"}}))
    assert made["createBillingTermScheme"] == {**made["createBillingTermScheme"],
                                               "code": "ONCE", "type": "ONE_TIME",
                                               "billingCycleDay": 1,
                                               "concurrentUsageBased": False}
    cu = (await client.gql(CREATE_SCHEME, {"input": {
        "code": "CU", "type": "NORMAL", "billingCycleDay": 31, "concurrentUsageBased": True}}))
    assert cu["createBillingTermScheme"]["billingCycleDay"] == 31
    assert cu["createBillingTermScheme"]["concurrentUsageBased"] is True
    before = await counts(server, client)
    for input, code, field in [
        ({"code": "X", "type": "NORMAL", "billingCycleDay": 0}, "BAD_USER_INPUT",
         "billingCycleDay"),
        ({"code": "X", "type": "NORMAL", "billingCycleDay": 32}, "BAD_USER_INPUT",
         "billingCycleDay"),
        ({"code": "DEFAULT", "type": "NORMAL"}, "CONFLICT", "code"),
        ({"code": "", "type": "NORMAL"}, "BAD_USER_INPUT", "code"),
    ]:
        error = await client.error(CREATE_SCHEME, {"input": input})
        assert error["extensions"] == {"code": code, "field": field}, input
    assert await counts(server, client) == before
    codes = [s["code"] for s in (await client.gql("{ billingTermSchemes { code } }"))[
        "billingTermSchemes"]]
    assert codes == ["CU", "DEFAULT", "ONCE"]


async def test_create_user(client: Client) -> None:
    made = (await client.gql('mutation { createUser(username: " alice ") { id username } }'))
    assert made["createUser"]["username"] == "alice"
    again = await client.error('mutation { createUser(username: "alice") { id } }')
    assert again["extensions"] == {"code": "CONFLICT", "field": "username"}


async def test_catalog_mutations_need_a_write_key(server: LiveServer, client: Client) -> None:
    read_key = await server.create_key(client.tenant_id, "read")
    error = await client.error(CREATE_PRODUCT, {"input": {"code": "A", "name": "A"}}, key=read_key)
    assert error["extensions"]["code"] == "FORBIDDEN"
