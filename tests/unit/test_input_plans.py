"""Planned input conversion (schema/input_plans.py) builds what strawberry's own
`convert_argument` builds, from the values graphql-core coerced."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import strawberry
from strawberry.relay.types import GlobalID
from strawberry.types.arguments import InputContext, convert_argument

from billgraph.api import schema as billgraph_schema
from billgraph.schema.enums import (
    BillingFrequency,
    BindingPeriod,
    ConcurrentUsageBillingMethod,
    OrderActionType,
)
from billgraph.schema.input_plans import planned
from billgraph.schema.orders import CreateOrderInput


def both_ways(schema: strawberry.Schema, cls: type, value: dict[str, Any]) -> tuple[Any, Any]:
    """`value` converted by the plan installed on `cls`, and by strawberry without it."""
    registry = schema.schema_converter.scalar_registry
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    planned_value = convert_argument(value, cls, registry, schema.config)
    hook, definition.from_input = definition.from_input, None
    try:
        generic = convert_argument(value, cls, registry, schema.config)
    finally:
        definition.from_input = hook
    return planned_value, generic


CREATE = {"accountId": "01900000-0000-7000-8000-000000000001",
          "subscriptions": [{"actions": [{
              "type": OrderActionType.CREATE_SUBSCRIPTION,
              "billingTerms": {"pricePlan": {"code": "GOLD"},
                               "agreementDate": dt.date(2026, 1, 1),
                               "billingFrequency": BillingFrequency.MONTHLY}}]}]}

EVERYTHING = {
    "accountId": "01900000-0000-7000-8000-000000000001", "orderDate": dt.date(2026, 2, 3),
    "orderNumber": "O-1",
    "subscriptions": [
        {"subscriptionNumber": "S-1", "actions": [
            {"type": OrderActionType.CREATE_SUBSCRIPTION, "effectiveDate": dt.date(2026, 2, 3),
             "subscriptionOwnerAccountId": "a", "invoiceOwnerAccountId": None,
             "billingTerms": {
                 "pricePlan": {"id": "p", "code": None}, "schemeCode": "CU",
                 "billingCycleDay": 31, "agreementDate": dt.date(2026, 1, 1),
                 "billingFrequency": BillingFrequency.QUARTERLY,
                 "performedBy": {"username": "ann"}, "performedOn": dt.date(2026, 1, 2),
                 "bindingInformation": {"bindingPeriod": BindingPeriod.ANNUAL},
                 "concurrentUsageBasedPricing": {
                     "concurrentUsage": 5, "ratePercentage": Decimal("12.5"),
                     "numberOfInstalledItems": None, "concurrentUsageBillingMethod":
                         ConcurrentUsageBillingMethod.BASED_ON_MAXIMUM_CAPACITY}},
             "items": [{"productCode": "SEAT", "quantity": 3, "price": Decimal("9.99")},
                       {"productCode": "ADDON"}]}]},
        {"subscriptionNumber": "S-2", "actions": [
            {"type": OrderActionType.ADD_PRODUCT, "item": {"productCode": "SEAT"}},
            {"type": OrderActionType.REMOVE_PRODUCT, "itemId": "i", "items": None},
            {"type": OrderActionType.CANCEL_SUBSCRIPTION, "overrideBinding": True},
            {"type": OrderActionType.OWNER_TRANSFER, "newSubscriptionOwnerAccountId": "b",
             "newInvoiceOwnerAccountId": "c"}]}]}


@pytest.mark.parametrize("value", [CREATE, EVERYTHING], ids=["create", "everything"])
def test_create_order_input_is_built_as_strawberry_builds_it(value: dict[str, Any]) -> None:
    planned_value, generic = both_ways(billgraph_schema, CreateOrderInput, value)
    assert planned_value == generic
    assert type(planned_value) is CreateOrderInput
    # lists are the input's own copies, never graphql-core's (it shares defaults)
    assert planned_value.subscriptions is not value["subscriptions"]


@strawberry.input
class Leafy:
    tags: list[str] | None = None
    when: dt.date | None = None


@strawberry.input
class Hooked:
    n: int


def _hooked(cls: type, value: Any, context: InputContext) -> Hooked:
    return Hooked(n=value["n"] * 10)


Hooked.__strawberry_definition__.from_input = _hooked  # type: ignore[attr-defined]


@planned
@strawberry.input
class Odd:
    gid: GlobalID
    maybe: strawberry.Maybe[int | None]
    leafy: list[Leafy | None]
    hooked: Hooked | None = None
    grid: list[list[int]] | None = None


@strawberry.type
class Query:
    @strawberry.field
    def odd(self, value: Odd) -> int:
        return 1


def test_what_the_plan_leaves_to_strawberry_is_converted_by_strawberry() -> None:
    schema = strawberry.Schema(query=Query)
    value = {"gid": str(GlobalID("Thing", "1")), "maybe": None,
             "leafy": [{"tags": ["a"]}, None, {"when": dt.date(2026, 1, 1)}],
             "hooked": {"n": 2}, "grid": [[1, 2], [3]]}
    planned_value, generic = both_ways(schema, Odd, value)
    assert planned_value == generic
    assert planned_value.gid == GlobalID("Thing", "1") and planned_value.hooked == Hooked(n=20)
    assert planned_value.maybe is not None and planned_value.maybe.value is None
    short = {"gid": value["gid"], "leafy": []}
    assert both_ways(schema, Odd, short)[0] == both_ways(schema, Odd, short)[1]


def test_only_for_input_types_without_their_own_hook() -> None:
    with pytest.raises(TypeError):
        planned(Hooked)
    with pytest.raises(TypeError):
        planned(Query)


@strawberry.input
class Node:
    label: str
    children: list[Node] | None = None


@planned
@strawberry.input
class Tree:
    root: Node


@strawberry.type
class TreeQuery:
    @strawberry.field
    def tree(self, value: Tree) -> int:
        return 1


def test_an_input_that_nests_itself() -> None:
    schema = strawberry.Schema(query=TreeQuery)
    value = {"root": {"label": "a", "children": [
        {"label": "b", "children": [{"label": "c"}]}, {"label": "d", "children": None}]}}
    planned_value, generic = both_ways(schema, Tree, value)
    assert planned_value == generic
    assert planned_value.root.children[0].children[0] == Node(label="c")
