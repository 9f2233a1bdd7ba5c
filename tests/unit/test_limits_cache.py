"""The query limits remember a document that passed them, unless its measure read the
variables (`first: $n`): those are measured on every request."""

from __future__ import annotations

import gc

from graphql import parse

from billgraph.schema import limits as limits_module
from billgraph.schema.limits import Limits, Measurer, check


def measured_count(monkeypatch: object) -> list[int]:
    calls = [0]
    original = Measurer.selection_set

    def counting(self: Measurer, *args: object, **kwargs: object) -> object:
        calls[0] += 1
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Measurer, "selection_set", counting)  # type: ignore[attr-defined]
    return calls


def test_a_passed_document_is_measured_once(monkeypatch: object) -> None:
    calls = measured_count(monkeypatch)
    document = parse("mutation($i: CreateOrderInput!) { createOrder(input: $i) { id } }")
    limits = Limits()
    assert check(document, {"i": {}}, limits) is None
    assert check(document, {"i": {"other": 1}}, limits) is None
    assert calls[0] == 1
    # other limits (another app in the same process) measure it again, and may refuse it
    assert check(document, None, Limits(max_fields=1)) is not None
    assert calls[0] == 2


def test_a_measure_that_read_the_variables_is_not_remembered() -> None:
    document = parse("query($n: Int) { accounts(first: $n) { subscriptions(first: $n) "
                     "{ id } } }")
    limits = Limits()
    assert check(document, {"n": 10}, limits) is None
    refused = check(document, {"n": 1000}, limits)  # 1,000 x 1,000: over max_cost
    assert refused is not None and "cost" in refused.message
    assert check(document, {"n": 10}, limits) is None


def test_a_refused_document_stays_refused() -> None:
    document = parse("{ " + " ".join(f"a{i}: __typename" for i in range(61)) + " }")
    limits = Limits()
    for _ in range(2):
        refused = check(document, None, limits)
        assert refused is not None and "aliases" in refused.message


def test_the_entry_goes_with_its_document() -> None:
    document = parse("{ __typename }")
    check(document, None, Limits())
    key = id(document)
    assert key in limits_module._passed
    del document
    gc.collect()
    assert key not in limits_module._passed
