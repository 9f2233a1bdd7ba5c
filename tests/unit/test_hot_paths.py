"""The hot path's input coercion is graphql-core's, for every input it accepts
(hypothesis), and its document check takes exactly the documents it can answer."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from graphql import parse
from graphql.execution.values import VariableValues, get_variable_values
from hypothesis import given, settings
from hypothesis import strategies as st

from billgraph.api import schema
from billgraph.hot_paths import INPUT_FIELDS, coerce_records, compile_plan
from billgraph.schema.limits import Limits
from billgraph.schema.pricing import _record_from_input

DOCUMENT = parse("mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { accepted } }")
DEFINITIONS = DOCUMENT.definitions[0].variable_definitions  # type: ignore[attr-defined]

stamps = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                      timezones=st.one_of(st.none(), st.just(UTC), st.builds(
                          lambda m: timezone(timedelta(minutes=m)),
                          st.integers(-23 * 60, 23 * 60)))).map(datetime.isoformat)
decimals = st.from_regex(r"\A-?[0-9]{1,6}(\.[0-9]{1,4})?\Z") | st.sampled_from(
    ["1e3", " 2 ", "NaN", "Infinity", "1e40", "", "0.000", "-0"])
anything = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                     st.floats(allow_nan=True), st.text(string.printable, max_size=6),
                     decimals, stamps, st.lists(st.integers(), max_size=2),
                     st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
texts = st.text(max_size=6)


@st.composite
def well_formed(draw: st.DrawFn) -> dict[str, Any]:
    return {"recordId": draw(texts), "subscriptionNumber": draw(texts),
            "productCode": draw(texts),
            "quantity": draw(decimals.filter(lambda d: d not in ("NaN", "Infinity", "1e40", ""))
                             | st.integers(0, 10**6)),
            "timestamp": draw(stamps)}


@st.composite
def damaged(draw: st.DrawFn) -> Any:
    record: dict[str, Any] = draw(well_formed())
    for name in draw(st.lists(st.sampled_from([*INPUT_FIELDS, "extra"]), min_size=1,
                              max_size=2)):
        if draw(st.booleans()):
            record.pop(name, None)
        else:
            record[name] = draw(anything)
    return record


def graphql_core(value: Any) -> list[dict[str, Any]] | None:
    """The variable as graphql-core coerces it; None when it refuses it."""
    coerced = get_variable_values(schema._schema, DEFINITIONS, {"r": value})
    if not isinstance(coerced, VariableValues):
        return None
    return list(coerced.coerced["r"])


@settings(max_examples=400, deadline=None)
@given(st.lists(well_formed() | damaged(), max_size=4) | anything | damaged())
def test_what_it_accepts_graphql_core_coerces_alike(value: Any) -> None:
    fast = coerce_records(value)
    if fast is None:
        return  # graphql-core answers: nothing to compare
    slow = graphql_core(value)
    assert slow is not None, value
    coerced, records = fast
    # repr: Decimal("1.0") == Decimal("1.00") and equal instants in other offsets compare
    # equal, but they are not the same input (the audit event keeps them as sent)
    assert repr(coerced) == repr(slow)
    assert [list(d) for d in coerced] == [list(INPUT_FIELDS)] * len(coerced)
    assert repr(records) == repr([_record_from_input(type, d, None) for d in slow])  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(well_formed(), max_size=5))
def test_it_accepts_every_well_formed_list(value: list[dict[str, Any]]) -> None:
    assert coerce_records(value) is not None
    assert graphql_core(value) is not None


LIMITS = Limits()


def test_documents_it_answers() -> None:
    plan = compile_plan(schema._schema, LIMITS, """mutation Meter($rs: [UsageRecordInput!]!) {
        m: recordUsage(records: $rs) { __typename id: recordId accepted duplicate
                                       e: errors { code message field __typename } } }""")
    assert plan is not None
    assert (plan.operation_name, plan.root_key, plan.variable) == ("Meter", "m", "rs")
    assert [k for k, _ in plan.getters] == ["__typename", "id", "accepted", "duplicate", "e"]


def test_documents_it_leaves_to_graphql_core() -> None:
    for query in [
        "query { __typename }",
        "mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { ... on "
        "UsageRecordResult { accepted } } }",
        "mutation($r: [UsageRecordInput!]!) @x { recordUsage(records: $r) { accepted } }",
        "mutation($r: [UsageRecordInput!]! = []) { recordUsage(records: $r) { accepted } }",
        "mutation($r: [UsageRecordInput!]) { recordUsage(records: $r) { accepted } }",
        "mutation { recordUsage(records: []) { accepted } }",
        "mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { accepted } } "
        "mutation B($r: [UsageRecordInput!]!) { recordUsage(records: $r) { accepted } }",
        "mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { errors } }",
        "mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { errors { nope } } }",
        "mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { a: accepted "
        "a: duplicate } }",
        "mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) "
        "{ accepted @skip(if: true) } }",
        "mutation($r: [UsageRecordInput!]!, $s: [UsageRecordInput!]!) "
        "{ recordUsage(records: $r) { accepted } }",
        "mutation($r: [UsageRecordInput!]!) { recordUsage(records: $r) { accepted }",  # syntax
    ]:
        assert compile_plan(schema._schema, LIMITS, query) is None, query
    tight = Limits(max_depth=1)
    assert compile_plan(schema._schema, tight, "mutation($r: [UsageRecordInput!]!) "
                        "{ recordUsage(records: $r) { errors { code } } }") is None
