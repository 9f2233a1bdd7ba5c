"""graphql-core's executor with a short path for plain leaf fields.

Most fields of a large answer are attributes of an already-built object: a
subscription page of 100 × 3 items is ~8,000 fields, ~90 % of them scalars or enums
read straight off a strawberry type (no resolver, no arguments). graphql-core spends
on each of them a GraphQLResolveInfo, strawberry's basic-field wrapper, an awaitable
check and the generic completion (~40 % of that request's CPU). `PlainFieldsExecutor`
answers such a field with the attribute coerced by the field's own type, and hands
anything unusual (a null, an exception, a value the type refuses, middleware) to
graphql-core's own `execute_field`, which then reports it exactly as before: the
attribute read has no side effect, so reading it twice changes nothing.

`lean_resolvers` gives the other fields that need no argument conversion (a method
taking only `self` and `info`, no field extension) a resolver that calls the method
directly: strawberry's generic wrapper converts arguments, chains extensions and
checks for exception handlers on each call (~15 µs a field). Errors and completion
stay graphql-core's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

Plain = dict[tuple[str, str], tuple[str, Any, bool]]
"""(object type, field) → (Python attribute, the leaf type's coerce_output_value,
whether the field is nullable)."""

_plain: WeakKeyDictionary[GraphQLSchema, Plain] = WeakKeyDictionary()


def plain_fields(schema: GraphQLSchema) -> Plain:
    """The fields of `schema` that are a strawberry attribute of a leaf type, read with
    the default resolver (getattr) and taking no arguments."""
    found = _plain.get(schema)
    if found is not None:
        return found
    found = {}
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        for name, field in named.fields.items():
            definition = (field.extensions or {}).get("strawberry-definition")
            leaf = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if (isinstance(definition, StrawberryField) and definition.is_basic_field
                    and definition.default_resolver is getattr
                    and getattr(field.resolve, "_is_default", False) and not field.args
                    and isinstance(leaf, GraphQLScalarType | GraphQLEnumType)):
                found[named.name, name] = (definition.python_name, leaf.coerce_output_value,
                                           leaf is field.type)
    _plain[schema] = found
    return found


def lean_resolvers(schema: GraphQLSchema, info_class: type[Any]) -> int:
    """Replace strawberry's resolver wrapper on the fields that do not need it (see the
    module's docstring); the number replaced. Only for a schema built without exception
    handlers (strawberry's wrapper is what applies them)."""
    roots = {t.name for t in (schema.mutation_type, schema.subscription_type) if t}
    replaced = 0
    for named in schema.type_map.values():
        if (not isinstance(named, GraphQLObjectType) or named.name.startswith("__")
                or named.name in roots):
            continue
        for field in named.fields.values():
            definition = (field.extensions or {}).get("strawberry-definition")
            if not isinstance(definition, StrawberryField) or field.args \
                    or definition.extensions:
                continue
            lean = _lean(definition, info_class)
            if lean is not None:
                field.resolve = lean
                replaced += 1
    return replaced


def _lean(definition: StrawberryField, info_class: type[Any]) -> Callable[..., Any] | None:
    resolver = definition.base_resolver
    if resolver is None:
        if definition.default_resolver is not getattr:
            return None
        name = definition.python_name

        def attribute(source: Any, info: Any) -> Any:
            return getattr(source, name)

        attribute._is_default = True  # type: ignore[attr-defined]  # as strawberry marks it
        return attribute
    func = resolver.wrapped_func
    if not inspect.isfunction(func):  # staticmethod, classmethod, a callable object
        return None
    names = list(inspect.signature(func).parameters)
    self_parameter = resolver.self_parameter
    info_parameter = resolver.info_parameter
    if self_parameter is None or names[:1] != [self_parameter.name]:
        return None
    if names == [self_parameter.name]:
        return lambda source, info: func(source)
    if info_parameter is None or names != [self_parameter.name, info_parameter.name]:
        return None

    def method(source: Any, info: Any) -> Any:
        return func(source, info_class(_raw_info=info, _field=definition))

    return method


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager  # strawberry's, always there: empty unless an
        wrapped = manager is not None and bool(manager.middlewares)  # extension resolves
        self.plain = {} if wrapped else plain_fields(self.schema)

    def execute_field(self, parent_type: GraphQLObjectType, source: Any,
                      field_details_list: Any, path: Any, position_context: Any) -> Any:
        plain = self.plain.get((parent_type.name, field_details_list[0].node.name.value))
        if plain is not None:
            value = getattr(source, plain[0], Undefined)
            if value is None and plain[2]:
                return None
            if value is not None and value is not Undefined and not isinstance(value, Exception):
                try:
                    coerced = plain[1](value)
                except Exception:
                    coerced = None
                if coerced is not None and coerced is not Undefined:
                    return coerced
        return super().execute_field(parent_type, source, field_details_list, path,
                                     position_context)
