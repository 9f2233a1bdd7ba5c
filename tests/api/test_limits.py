"""GraphQL limits: hostile documents are refused with QUERY_TOO_COMPLEX, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import Client, LiveServer, start_server


async def refused(client: Client, query: str, code: str = "QUERY_TOO_COMPLEX",
                  variables: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post(query, variables)
    assert response.status_code < 500, response.text
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == code, body
    assert body.get("data") is None
    return dict(body["errors"][0])


async def test_depth_limit(server: LiveServer) -> None:
    async with start_server(server.database_url, run_workers=False,
                            max_query_depth=3) as small:
        async with small.new_tenant("depth") as client:
            await client.gql("{ viewer { settings { defaultCurrency } } }")
            error = await refused(
                client, "{ accounts { edges { node { metrics { currency } } } } }")
            assert "depth 5" in error["message"]
            # introspection is exempt, so GraphiQL still loads its schema
            await client.gql("{ __schema { types { name fields { type { ofType { ofType "
                             "{ name } } } } } } }")


async def test_aliases_counted_through_fragments(client: Client) -> None:
    many = " ".join(f"a{i}: viewer {{ id }}" for i in range(61))
    await refused(client, f"{{ {many} }}")
    fragment = " ".join(f"b{i}: id" for i in range(31))
    await refused(client, f"{{ viewer {{ ...F }} v2: viewer {{ ...F }} }} "
                          f"fragment F on Tenant {{ {fragment} }}")


async def test_ten_thousand_aliases(client: Client) -> None:
    many = " ".join(f"a{i}: __typename" for i in range(10_000))
    await refused(client, f"{{ {many} }}")


async def test_typename_times_a_thousand(client: Client) -> None:
    await refused(client, "{ " + "__typename " * 1001 + "}")


async def test_circular_fragments_are_refused_without_recursion_error(client: Client) -> None:
    query = ("{ viewer { ...A } } fragment A on Tenant { id ...B } "
             "fragment B on Tenant { name ...A }")
    error = await refused(client, query, code="BAD_USER_INPUT")
    assert "fragment" in error["message"].lower()


async def test_fragment_bomb_is_refused(client: Client) -> None:
    fragments = ["fragment F0 on Tenant { id name }"]
    for i in range(1, 30):
        fragments.append(f"fragment F{i} on Tenant {{ ...F{i - 1} ...F{i - 1} }}")
    await refused(client, "{ viewer { ...F29 } } " + " ".join(fragments))


async def test_token_limit(client: Client) -> None:
    await refused(client, "{ viewer { id } }" + " # comment\n" + "{ viewer { id } } " * 3000)


async def test_cost_estimate(client: Client) -> None:
    await client.gql("{ accounts(first: 500) { edges { node { id } } } }")
    fields = "name " * 120
    error = await refused(client, "{ a: accounts(first: 500) { edges { node { " + fields +
                          " } } } b: accounts(first: 500) { edges { node { id } } } "
                          "c: accounts(first: 500) { edges { node { metrics { balance "
                          "creditBalance contractedMrr currency stale } } } } }")
    assert "cost" in error["message"]


async def test_page_size_above_maximum_is_refused_not_cut(client: Client) -> None:
    await refused(client, "{ accounts(first: 501) { totalCount } }", code="BAD_USER_INPUT")


async def test_ten_megabyte_body(client: Client) -> None:
    body = json.dumps({"query": "{ viewer { id } }", "variables": {"x": "y" * 10_000_000}})
    response = await client.http.post("/graphql", content=body, headers={
        "Authorization": f"Bearer {client.key}", "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_batched_requests_are_refused(client: Client) -> None:
    response = await client.http.post(
        "/graphql", json=[{"query": "{ viewer { id } }"}, {"query": "{ viewer { name } }"}],
        headers={"Authorization": f"Bearer {client.key}"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("setting", ["introspection", "graphiql"])
async def test_introspection_and_graphiql_can_be_switched_off(
    server: LiveServer, setting: str
) -> None:
    async with start_server(server.database_url, run_workers=False, **{setting: False}) as s:
        async with s.new_tenant("prod") as client:
            if setting == "introspection":
                response = await client.post("{ __schema { types { name } } }")
                assert response.json()["errors"]
                assert response.status_code < 500
                await client.gql("{ viewer { id } }")
            else:
                page = await s.http.get("/graphql", headers={"Accept": "text/html"})
                assert page.status_code != 200 or "graphiql" not in page.text.lower()
