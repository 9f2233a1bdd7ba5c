"""recordUsage's hot path (billgraph/hot_paths.py) answers exactly as graphql-core does.

Two servers on one database, both adding extensions.sqlStatements to answers: one with
hot paths (the default), one without (`hot_paths=False`: every operation through
graphql-core). Each gets a tenant set up the
same way, so the same request must get the same answer from both, byte for byte, and
leave the same rows and audit events. (Subscription numbers are numbered across tenants:
requests name the subscription "@SUB", each side sends its own, and answers and rows
are compared with it written "@SUB" again.) A spy on the hot path's `_run` tells which
requests it answered itself, so a test cannot pass by the hot path never being taken.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from billgraph.graphql_app import BillgraphGraphQL
from billgraph.services.metered_usage import MAX_RECORDS
from tests.api.bill_run_support import account, subscribe
from tests.api.pricing_support import priced_plan, usage_record
from tests.support import Client, LiveServer, start_server

FULL = """mutation Meter($r: [UsageRecordInput!]!) { used: recordUsage(records: $r) {
  __typename id: recordId accepted duplicate
  errors { __typename code message where: field } } }"""
SUB = "@SUB"  # the subscription of the side a request goes to
SHORT = "mutation($records: [UsageRecordInput!]!) { recordUsage(records: $records) { accepted } }"


@dataclass
class Side:
    live: LiveServer
    client: Client
    hot: list[int]  # calls the hot path answered
    subscription: str


def view_of(live: LiveServer) -> BillgraphGraphQL:
    [view] = {id(r.endpoint): r.endpoint for r in live.app.routes
              if isinstance(getattr(r, "endpoint", None), BillgraphGraphQL)}.values()
    assert isinstance(view, BillgraphGraphQL)
    return view


@pytest.fixture
async def sides(database_url: str) -> AsyncIterator[tuple[Side, Side]]:
    """(with hot paths, without), each with a tenant holding one monthly subscription
    (from 2026-01-01) on the USAGE charges GB and DEVICE."""
    async with AsyncExitStack() as stack:
        made: list[Side] = []
        for hot_paths in (True, False):
            live = await stack.enter_async_context(
                start_server(database_url, run_workers=False, hot_paths=hot_paths,
                             expose_sql_count=True))
            client = await stack.enter_async_context(live.new_tenant("hot-paths"))
            await priced_plan(
                client, "METERED",
                {"productCode": "GB", "chargeType": "USAGE", "price": "2.00"},
                {"productCode": "DEVICE", "chargeType": "USAGE", "price": "1.00"},
                {"productCode": "SEAT", "chargeType": "RECURRING", "price": "5.00"})
            owner = await account(client, "Owner")
            sub = await subscribe(client, owner, "2026-01-01", plan_code="METERED",
                                  items=[{"productCode": "GB"}, {"productCode": "DEVICE"}])
            calls: list[int] = []
            view = view_of(live)
            if view.hot_paths is not None:
                run = view.hot_paths._run

                async def spy(*args: Any, run: Any = run, calls: list[int] = calls) -> Any:
                    calls.append(1)
                    return await run(*args)

                view.hot_paths._run = spy  # type: ignore[method-assign,assignment]
            made.append(Side(live, client, calls, str(sub["subscriptionNumber"])))
        hot, cold = made
        assert view_of(cold.live).hot_paths is None
        yield hot, cold


async def both(sides: tuple[Side, Side], query: str, variables: Any, *,
               key: dict[str, str] | None = None) -> tuple[bytes, bool]:
    """The one answer both servers gave (asserted equal, status and body), and whether
    the hot path answered it."""
    answers = []
    for side in sides:
        token = (key or {}).get("hot" if side is sides[0] else "cold", side.client.key)
        body = json.dumps({"query": query, "variables": variables})
        response = await side.live.http.post(
            "/graphql", content=body.replace(SUB, side.subscription),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        answers.append((response.status_code, response.headers["content-type"],
                        response.content.replace(side.subscription.encode(), SUB.encode())))
    assert answers[0] == answers[1]
    taken = bool(sides[0].hot)
    sides[0].hot.clear()
    return answers[0][2], taken


async def stored(side: Side) -> list[tuple[Any, ...]]:
    rows = await side.live.sql(
        "SELECT u.record_id, s.subscription_number, p.code, u.quantity::text AS q, "
        "u.recorded_at, u.usage_date FROM usage_records u "
        "JOIN subscriptions s ON s.tenant_id = u.tenant_id AND s.id = u.subscription_id "
        "JOIN products p ON p.tenant_id = u.tenant_id AND p.id = u.product_id "
        "WHERE u.tenant_id = CAST(:t AS uuid) ORDER BY u.record_id", t=side.client.tenant_id)
    return [(r["record_id"], SUB if r["subscription_number"] == side.subscription else "?",
             *list(r.values())[2:]) for r in rows]


async def audited(side: Side) -> list[tuple[Any, ...]]:
    rows = await side.live.sql(
        "SELECT operation, operation_name, outcome, variables::text AS v FROM audit_events "
        "WHERE tenant_id = CAST(:t AS uuid) AND operation = 'recordUsage' ORDER BY occurred_at, id",
        t=side.client.tenant_id)
    return [(*list(r.values())[:3], r["v"].replace(side.subscription, SUB)) for r in rows]


async def same_effects(sides: tuple[Side, Side]) -> list[tuple[Any, ...]]:
    hot, cold = sides
    assert await stored(hot) == await stored(cold)
    assert await audited(hot) == await audited(cold)
    return await stored(hot)


async def test_every_outcome_answered_alike(sides: tuple[Side, Side]) -> None:
    sub = SUB
    records = [
        usage_record("a-1", sub, "GB", "4.50", "2026-01-05T10:00:00Z"),
        usage_record("a-2", sub, "DEVICE", "1", "2026-02-01T01:30:00+02:00"),
        usage_record("a-1", sub, "GB", "4.50", "2026-01-05T10:00:00Z"),  # again in the call
        usage_record("a-3", "S-NONE", "GB", "1", "2026-01-05T10:00:00Z"),  # no subscription
        usage_record("a-4", sub, "SEAT", "1", "2026-01-05T10:00:00Z"),  # not a USAGE item
        usage_record("a-5", sub, "GB", "1", "2025-12-31T23:59:59Z"),  # before it started
        usage_record("a-6", sub, "GB", "-1", "2026-01-05T10:00:00Z"),  # negative
        usage_record(" ", sub, "GB", "1", "2026-01-05T10:00:00Z"),  # blank recordId
        {**usage_record("a-7", sub, "GB", "2", "2026-01-06T00:00:00"), "quantity": 2},  # Int
    ]
    body, taken = await both(sides, FULL, {"r": records})
    assert taken
    results = json.loads(body)["data"]["used"]
    assert [(r["id"], r["accepted"], r["duplicate"], [e["code"] for e in r["errors"]])
            for r in results] == [
        ("a-1", True, False, []), ("a-2", True, False, []), ("a-1", False, True, []),
        ("a-3", False, False, ["NOT_FOUND"]), ("a-4", False, False, ["BAD_USER_INPUT"]),
        ("a-5", False, False, ["BAD_USER_INPUT"]), ("a-6", False, False, ["BAD_USER_INPUT"]),
        (" ", False, False, ["BAD_USER_INPUT"]), ("a-7", True, False, [])]
    assert results[0]["__typename"] == "UsageRecordResult"
    assert results[3]["errors"] == [{"__typename": "JobError", "code": "NOT_FOUND",
                                     "message": "no subscription 'S-NONE'",
                                     "where": "records[3].subscriptionNumber"}]
    # sent again: every stored one is a duplicate now
    body, taken = await both(sides, SHORT, {"records": records[:2]})
    assert taken and json.loads(body) == {
        "data": {"recordUsage": [{"accepted": False}, {"accepted": False}]},
        "extensions": {"sqlStatements": 2}}  # the records' statement and the audit event's
    rows = await same_effects(sides)
    assert [r[:4] for r in rows] == [("a-1", sub, "GB", "4.50"), ("a-2", sub, "DEVICE", "1"),
                                     ("a-7", sub, "GB", "2")]
    assert len(await audited(sides[0])) == 2


@pytest.mark.parametrize("broken", [
    {"quantity": 1.5},  # a float never carries a quantity
    {"quantity": "ten"},
    {"quantity": None},
    {"recordId": 7},  # a number for a String
    {"timestamp": "yesterday"},
    {"productCode": None},
    {"extra": "field"},
])
async def test_what_graphql_core_refuses_it_answers(sides: tuple[Side, Side],
                                                    broken: dict[str, Any]) -> None:
    sub = SUB
    records = [usage_record("b-1", sub, "GB", "1", "2026-01-05T10:00:00Z"),
               {**usage_record("b-2", sub, "GB", "1", "2026-01-05T10:00:00Z"), **broken}]
    body, taken = await both(sides, FULL, {"r": records})
    assert not taken
    answer = json.loads(body)
    assert answer["data"] is None and answer["errors"][0]["extensions"]["code"] == \
        "BAD_USER_INPUT"
    assert await same_effects(sides) == []


async def test_missing_field_unknown_variable_and_text_it_cannot_store(
        sides: tuple[Side, Side]) -> None:
    sub = SUB
    good = usage_record("c-1", sub, "GB", "1", "2026-01-05T10:00:00Z")
    short = {k: v for k, v in good.items() if k != "timestamp"}
    for query, variables in [(FULL, {"r": [short]}), (FULL, {"r": [good], "other": 1}),
                             (FULL, {"r": {**good}}),  # one record, not a list
                             (FULL, {"r": [{**good, "recordId": "nul\u0000"}]})]:
        _, taken = await both(sides, query, variables)
        assert not taken, variables
    # graphql-core ignores a variable the operation does not declare: c-1 is stored
    assert [r[0] for r in await same_effects(sides)] == ["c-1"]


async def test_unstorable_text_in_any_encoding_is_refused_alike(
        sides: tuple[Side, Side]) -> None:
    """NUL and unpaired surrogates reach json.loads escaped, as UTF-8-style bytes, or in a
    UTF-16 body: every form is refused as graphql-core's path refuses it."""
    record = json.dumps(usage_record("h-1", SUB, "GB", "1", "2026-01-05T10:00:00Z"))
    bodies = [
        json.dumps({"query": SHORT, "variables": {"r": ["@RECORD"]}}).replace(
            '"@RECORD"', record).encode()
        .replace(b"h-1", bad) for bad in (b"h\\u0000", b"h\\ud800", b"h\xed\xa0\x80")]
    bodies.append(bodies[0].decode().encode("utf-16"))
    for body in bodies:
        answers = []
        for side in sides:
            response = await side.live.http.post(
                "/graphql", content=body.replace(SUB.encode("utf-16")[2:],
                                                 side.subscription.encode("utf-16")[2:])
                .replace(SUB.encode(), side.subscription.encode()),
                headers={"Authorization": f"Bearer {side.client.key}",
                         "Content-Type": "application/json"})
            answers.append((response.status_code, response.content))
        assert answers[0] == answers[1], body
        assert not sides[0].hot
        assert b"BAD_USER_INPUT" in answers[0][1], answers[0]
    assert await same_effects(sides) == []


@pytest.mark.parametrize("query", [
    # a fragment, a directive, a literal list, a second root field, another operation
    """mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { ...R } }
       fragment R on UsageRecordResult { recordId accepted }""",
    """mutation($r: [UsageRecordInput!]!, $x: Boolean!) {
       recordUsage(records: $r) { recordId @include(if: $x) accepted } }""",
    """mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { recordId accepted }
       again: recordUsage(records: $r) { recordId } }""",
    """mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { recordId recordId } }""",
    """mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { recordId nope } }""",
    """mutation($r: [UsageRecordInput]) { recordUsage(records: $r) { recordId } }""",
])
async def test_other_documents_go_through_graphql_core(sides: tuple[Side, Side],
                                                       query: str) -> None:
    sub = SUB
    variables: dict[str, Any] = {"r": [usage_record("d-1", sub, "GB", "1",
                                                    "2026-01-05T10:00:00Z")]}
    if "$x" in query:
        variables["x"] = True
    _, taken = await both(sides, query, variables)
    assert not taken
    await same_effects(sides)


async def test_refusals_are_answered_alike(sides: tuple[Side, Side]) -> None:
    sub = SUB
    one = [usage_record("e-1", sub, "GB", "1", "2026-01-05T10:00:00Z")]
    reads = {"hot": await sides[0].live.create_key(sides[0].client.tenant_id, "read"),
             "cold": await sides[1].live.create_key(sides[1].client.tenant_id, "read")}
    body, taken = await both(sides, FULL, {"r": one}, key=reads)
    assert taken
    [error] = json.loads(body)["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN" and error["path"] == ["used"]
    too_many = [usage_record(f"f-{n}", sub, "GB", "1", "2026-01-05T10:00:00Z")
                for n in range(MAX_RECORDS + 1)]
    body, taken = await both(sides, SHORT, {"records": too_many})
    assert taken
    [error] = json.loads(body)["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "records"}
    assert await same_effects(sides) == []
    assert [r[2] for r in await audited(sides[0])] == ["FORBIDDEN", "BAD_USER_INPUT"]


async def test_operation_name_must_match(sides: tuple[Side, Side]) -> None:
    sub = SUB
    one = [usage_record("g-1", sub, "GB", "1", "2026-01-05T10:00:00Z")]
    for name, hot in (("Meter", True), ("Other", False), (None, True)):
        answers = []
        for side in sides:
            response = await side.live.http.post("/graphql", json={
                "query": FULL, "variables": {"r": one}, "operationName": name},
                headers={"Authorization": f"Bearer {side.client.key}"})
            answers.append(response.content)
        assert answers[0] == answers[1], name
        assert bool(sides[0].hot) is hot, name
        sides[0].hot.clear()
