"""A plain JSON POST is answered by the view's short path (`BillgraphGraphQL._post`);
every answer is the one strawberry's own `run` gives. A body sent as
"application/json-seq" takes strawberry's path for the comparison: strawberry takes any
media type containing "application/json" for JSON, the short path only that one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.api.test_hot_paths import view_of
from tests.support import Client, start_server

CASES: list[dict[str, Any]] = [
    {"query": "{ viewer { name settings { defaultCurrency } } }"},
    {"query": "{ viewer { name } }", "variables": None, "operationName": None},
    {"query": "{ nope }"},  # a validation error
    {"query": "query A { __typename } query B { viewer { name } }", "operationName": "B"},
    {"query": "query A { __typename }", "operationName": "C"},  # 400: unknown operation
    {"query": "query A { __typename } query B { __typename }"},  # 400: which operation?
    {"query": ""},  # 400: no query
    {"query": "query($n: Int!) { accounts(first: $n) { edges { node { id } } } }",
     "variables": {"n": "ten"}},  # a variable's coercion error
    {"query": "{ __typename }", "variables": [1]},  # strawberry's 400 (not the short path)
    {"query": "{ __typename }", "extensions": {"persistedQuery": {}}},
    {"query": "subscription { __typename }"},
    {"query": 'mutation { createAccount(input: {name: "A", currency: "EURO"}) { id } }'},
]


async def answer(client: Client, body: dict[str, Any], content_type: str
                 ) -> tuple[int, str, Any]:
    response = await client.http.post(
        "/graphql", content=json.dumps(body),
        headers={"Authorization": f"Bearer {client.key}", "Content-Type": content_type})
    kind = response.headers["content-type"]
    return (response.status_code, kind,
            response.json() if kind.startswith("application/json") else response.text)


@pytest.fixture
async def spied(database_url: str) -> AsyncIterator[tuple[Client, list[bool]]]:
    """A client of a server in this process, and per POST whether the short path
    answered it (so the comparison cannot pass by the short path never being taken)."""
    async with start_server(database_url, run_workers=False) as live, \
            live.new_tenant("post-path") as client:
        view = view_of(live)
        post, answered = view._post, []

        async def spy(*args: Any) -> Any:
            response = await post(*args)
            answered.append(response is not None)
            return response

        view._post = spy  # type: ignore[method-assign,assignment]
        yield client, answered


@pytest.mark.parametrize("body", CASES, ids=[str(n) for n in range(len(CASES))])
async def test_the_short_path_answers_as_strawberry_does(
        spied: tuple[Client, list[bool]], body: dict[str, Any]) -> None:
    client, answered = spied
    short = await answer(client, body, "application/json")
    full = await answer(client, body, "application/json-seq")
    assert short == full
    assert short[0] in (200, 400)
    # the short path took all but the body strawberry refuses before executing it
    assert answered == [body.get("variables") != [1], False]


async def test_a_plain_post_still_writes(client: Client) -> None:
    created = await client.gql('mutation { createAccount(input: {name: "Short", '
                               'currency: "USD"}) { id name } }')
    read = await client.gql("query($id: ID!) { account(id: $id) { name } }",
                            {"id": created["createAccount"]["id"]})
    assert read == {"account": {"name": "Short"}}
