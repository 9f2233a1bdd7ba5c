"""createProduct, createPricePlan, createBillingTermScheme and createUser take an
idempotencyKey with the same semantics as every other create mutation (SPEC §8)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import Client, LiveServer

CASES: dict[str, tuple[str, str, dict[str, Any], dict[str, Any]]] = {
    # mutation: (document, table, first input, the same key's other input)
    "createProduct": (
        """mutation($input: CreateProductInput!, $key: String) {
          createProduct(input: $input, idempotencyKey: $key) { id code name } }""",
        "products", {"code": "SEAT", "name": "Seat"}, {"code": "SEAT", "name": "Chair"}),
    "createPricePlan": (
        """mutation($input: CreatePricePlanInput!, $key: String) {
          createPricePlan(input: $input, idempotencyKey: $key) {
            id code charges { price product { code } } } }""",
        "price_plans",
        {"code": "PLAN", "name": "Plan", "charges": [
            {"productCode": "SETUP", "chargeType": "ONE_TIME", "price": "5.00"}]},
        {"code": "PLAN", "name": "Plan", "charges": [
            {"productCode": "SETUP", "chargeType": "ONE_TIME", "price": "6.00"}]}),
    "createBillingTermScheme": (
        """mutation($input: CreateBillingTermSchemeInput!, $key: String) {
          createBillingTermScheme(input: $input, idempotencyKey: $key) {
            id code billingCycleDay } }""",
        "billing_term_schemes", {"code": "FIFTEENTH", "type": "NORMAL", "billingCycleDay": 15},
        {"code": "FIFTEENTH", "type": "NORMAL", "billingCycleDay": 16}),
}


async def rows(server: LiveServer, client: Client, table: str) -> int:
    [row] = await server.sql(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = :t",
                             t=client.tenant_id)
    return int(row["n"])


@pytest.mark.parametrize("mutation", list(CASES))
async def test_a_repeated_key_returns_the_first_object_and_writes_nothing_more(
        client: Client, server: LiveServer, mutation: str) -> None:
    document, table, first, other = CASES[mutation]
    await client.gql("mutation { createProduct(input: {code: \"SETUP\", name: \"Setup\"}) "
                     "{ id } }")
    before = await rows(server, client, table)
    created = (await client.gql(document, {"input": first, "key": "k-1"}))[mutation]
    again = (await client.gql(document, {"input": first, "key": "k-1"}))[mutation]
    assert again == created
    assert await rows(server, client, table) == before + 1
    reused = await client.error(document, {"input": other, "key": "k-1"})
    assert reused["extensions"] == {"code": "IDEMPOTENCY_KEY_REUSED", "field": "idempotencyKey"}
    # without a key the same input is a second create: its code is taken
    conflict = await client.error(document, {"input": first})
    assert conflict["extensions"]["code"] == "CONFLICT"
    assert await rows(server, client, table) == before + 1


async def test_create_user_with_a_key_is_created_once(client: Client,
                                                      server: LiveServer) -> None:
    document = """mutation($name: String!, $key: String) {
      createUser(username: $name, idempotencyKey: $key) { id username } }"""
    created = (await client.gql(document, {"name": " ana ", "key": "u-1"}))["createUser"]
    assert created["username"] == "ana"
    assert (await client.gql(document, {"name": " ana ", "key": "u-1"}))["createUser"] == created
    assert await rows(server, client, "users") == 1
    reused = await client.error(document, {"name": "bo", "key": "u-1"})
    assert reused["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
