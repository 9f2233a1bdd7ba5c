"""Input types converted by a plan made once, instead of strawberry's walk per request.

graphql-core hands a resolver's arguments over already coerced: scalars parsed (dates,
Decimals), enums as their values. Strawberry then turns them into the input dataclasses
with `convert_argument`, which on every request and for every field resolves the field's
type, its GraphQL name and whether it is a leaf — for a createOrder, ~0.3 ms of a
~2.8 ms request (bench/RESULTS.md, issue 13 session 9). `planned(cls)` installs on an
input type strawberry's own `from_input` hook with a plan built at its first use (per
schema config): per field its GraphQL name, Python name and converter — nothing for a
leaf, a list copy or comprehension, a nested plan for a nested input type. Whatever the
plan does not know as exactly the same (Maybe, GlobalID, an input with its own
`from_input` hook) is converted by strawberry's `convert_argument` itself. The result is
the same dataclass strawberry would build (tests/unit/test_input_plans.py compares them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from strawberry.relay.types import GlobalID
from strawberry.types.arguments import InputContext, _is_leaf_type, convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

T = TypeVar("T")

# value, context, the field's GraphQL name -> the Python value
Converter = Callable[[Any, InputContext, str], Any]
Build = Callable[[Mapping[str, Any], InputContext], Any]


def planned(cls: type[T]) -> type[T]:
    """Install the planned conversion as `cls`'s strawberry `from_input` hook."""
    definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    if not definition.is_input or definition.from_input is not None:
        raise TypeError(f"{cls.__name__}: not an input type without a from_input hook")
    plans: dict[int, Build] = {}

    def from_input(type_: type, value: Mapping[str, Any], context: InputContext) -> Any:
        build = plans.get(id(context.config))
        if build is None:
            build = plans[id(context.config)] = _plan(definition, context)
        return build(value, context)

    definition.from_input = from_input
    return cls


def _plan(definition: StrawberryObjectDefinition, context: InputContext) -> Build:
    """What `convert_argument` does for an input object of `definition`, decided once."""
    # as strawberry: every field without a default is None unless given (graphql-core has
    # checked the required ones are)
    preset = {f.python_name: None for f in definition.fields
              if f.default_value is dataclasses.MISSING
              and f.default_factory is dataclasses.MISSING}
    fields = [(context.config.name_converter.from_field(f), f.python_name,
               _converter(f.resolve_type(type_definition=definition), context))
              for f in definition.fields]
    origin = definition.origin

    def build(value: Mapping[str, Any], context: InputContext) -> Any:
        kwargs = dict(preset)
        for name, python_name, convert in fields:
            if name in value:
                given = value[name]
                kwargs[python_name] = given if convert is None else convert(given, context,
                                                                            name)
        return origin(**kwargs)

    return build


def _converter(type_: Any, context: InputContext) -> Converter | None:
    """How a field's value of `type_` is converted; None: it is used as it is."""
    if isinstance(type_, StrawberryMaybe):
        return _strawberry(type_)
    if isinstance(type_, StrawberryOptional):
        return _converter(type_.of_type, context)  # every converter passes None on
    if isinstance(type_, LazyType):
        return _converter(type_.resolve_type(), context)
    if isinstance(type_, StrawberryList):
        of = type_.of_type
        item = _converter(of, context)
        if item is None:  # leaves: copied, as strawberry does (graphql-core shares defaults)
            return _copy

        def each(value: Any, context: InputContext, name: str) -> Any:
            if value is None or value is UNSET:
                return value
            return [item(v, context, name) for v in value]

        return each
    if type_ is GlobalID:
        return _strawberry(type_)
    if _is_leaf_type(type_, context.scalar_registry) or has_enum_definition(type_):
        return None
    if has_object_definition(type_):
        nested: StrawberryObjectDefinition = type_.__strawberry_definition__
        if nested.from_input is not None:
            return _strawberry(type_)
        build: Build | None = None  # planned at its first value: an input may nest itself

        def inner(value: Any, context: InputContext, name: str) -> Any:
            nonlocal build
            if value is None or value is UNSET:
                return value
            if build is None:
                build = _plan(nested, context)
            return build(value, context)

        return inner
    return _strawberry(type_)


def _copy(value: Any, context: InputContext, name: str) -> Any:
    return value if value is None or value is UNSET else list(value)


def _strawberry(type_: Any) -> Converter:
    def convert(value: Any, context: InputContext, name: str) -> Any:
        return convert_argument(value, type_, context.scalar_registry, context.config,
                                context.info, path=(*context.path, name))

    return convert
