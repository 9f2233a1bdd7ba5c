"""The short paths of schema/execution.py answer exactly what strawberry and graphql-core
answer: the same data and the same errors at the same paths, whatever the attributes
hold (nulls where the type forbids them, values the type refuses, exceptions)."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from hypothesis import given, settings
from hypothesis import strategies as st
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from billgraph.api import schema as served
from billgraph.schema.execution import PlainFieldsExecutor, lean_resolvers, plain_fields
from billgraph.schema.scalars import DecimalScalar


@strawberry.enum
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Leaf:
    text: str
    count: int
    maybe: str | None
    amount: Decimal
    day: dt.date
    color: Color
    colors: list[Color]


@strawberry.type
class Thing:
    leaf: Leaf
    leaves: list[Leaf]
    maybe_leaf: Leaf | None

    @strawberry.field
    def first(self) -> Leaf:
        return self.leaves[0]

    @strawberry.field
    def path(self, info: Info) -> str:
        return f"{info.field_name}@{info.path.key}"

    @strawberry.field
    async def later(self) -> Leaf | None:
        await asyncio.sleep(0)
        return self.maybe_leaf

    @strawberry.field
    def failing(self) -> str | None:
        raise ValueError("this field fails")

    @strawberry.field
    def shout(self, word: str = "hi") -> str:
        return word.upper()


@strawberry.type
class Query:
    things: list[Thing]


DOCUMENT = """{ things { leaf { ...all } leaves { ...all } maybeLeaf { ...all }
  first { text } path later { ...all } failing shout(word: "x") } }
fragment all on Leaf { text count maybe amount day color colors }"""


def build(fast: bool) -> strawberry.Schema:
    config = StrawberryConfig(scalar_map={Decimal: DecimalScalar})
    if not fast:
        return strawberry.Schema(query=Query, config=config)
    built = strawberry.Schema(query=Query, config=config,
                              execution_context_class=PlainFieldsExecutor)
    lean_resolvers(built._schema, built.config.info_class)
    return built


PLAIN, FAST = build(False), build(True)

anything = st.one_of(
    st.none(), st.text(max_size=3), st.integers(min_value=-3, max_value=2**40),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.dates(), st.sampled_from(Color), st.booleans(), st.floats(allow_nan=False),
    st.just(ValueError("a value that is an error")), st.lists(st.sampled_from(Color)))


def leaf(values: dict[str, Any]) -> Leaf:
    return Leaf(**values)


leaves = st.fixed_dictionaries({
    "text": st.one_of(st.text(max_size=3), anything), "count": st.one_of(st.integers(-5, 5),
                                                                          anything),
    "maybe": anything, "amount": st.one_of(st.decimals(places=2, allow_nan=False,
                                                       allow_infinity=False), anything),
    "day": st.one_of(st.dates(), anything), "color": st.one_of(st.sampled_from(Color),
                                                               anything),
    "colors": st.one_of(st.lists(st.sampled_from(Color), max_size=2), anything),
}).map(leaf)

things = st.builds(Thing, leaf=leaves, leaves=st.lists(leaves, min_size=1, max_size=3),
                   maybe_leaf=st.one_of(st.none(), leaves))


def answer(schema: strawberry.Schema, root: Query) -> tuple[Any, list[tuple[str, Any]]]:
    result = asyncio.run(schema.execute(DOCUMENT, root_value=root))
    errors = sorted((e.message, e.path) for e in result.errors or [])
    return result.data, errors


@settings(max_examples=150, deadline=None)
@given(st.lists(things, min_size=1, max_size=3))
def test_the_short_paths_answer_what_graphql_core_answers(found: list[Thing]) -> None:
    root = Query(things=found)
    assert answer(FAST, root) == answer(PLAIN, root)


def test_the_short_paths_are_taken() -> None:
    """Not a tautology: the fast schema's leaf fields are in the plain map, its methods
    without arguments got the lean resolver, a field with arguments kept strawberry's."""
    thing = FAST._schema.type_map["Thing"]
    assert isinstance(thing, GraphQLObjectType)
    fields = thing.fields
    assert {"text", "count", "maybe", "amount", "day", "color"} <= {
        name for kind, name in plain_fields(FAST._schema) if kind == "Leaf"}
    assert ("Leaf", "colors") not in plain_fields(FAST._schema)  # a list: not a leaf
    assert fields["path"].resolve.__name__ == "method"
    assert fields["first"].resolve.__name__ == "<lambda>"
    assert fields["shout"].resolve.__name__ == "_resolver"  # strawberry's: it has arguments
    served_fields = plain_fields(served._schema)
    assert ("Subscription", "subscriptionNumber") in served_fields
    assert ("SubscriptionItem", "mrr") in served_fields
