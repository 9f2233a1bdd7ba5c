"""Every type, field and argument of billgraph's schema has a description, so GraphiQL's
Docs pane explains the whole API (introspection `__` types and built-in scalars aside)."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    build_client_schema,
    get_introspection_query,
    graphql_sync,
)

from billgraph.api import build_schema

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}


def undescribed() -> list[str]:
    """What lacks a description, read from the introspection a client (GraphiQL) sees."""
    result = graphql_sync(build_schema()._schema, get_introspection_query(descriptions=True))
    assert result.errors is None, result.errors
    schema = build_client_schema(result.data)  # type: ignore[arg-type]
    missing = []
    for name, kind in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        if not (kind.description or "").strip():
            missing.append(name)
        if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in kind.fields.items():
                if not (field.description or "").strip():
                    missing.append(f"{name}.{field_name}")
                missing += [f"{name}.{field_name}({arg})" for arg, value in field.args.items()
                            if not (value.description or "").strip()]
        elif isinstance(kind, GraphQLInputObjectType):
            missing += [f"{name}.{field}" for field, value in kind.fields.items()
                        if not (value.description or "").strip()]
        else:
            assert isinstance(kind, GraphQLEnumType | GraphQLScalarType | GraphQLUnionType)
    return missing


def test_every_type_field_and_argument_is_described() -> None:
    missing = undescribed()
    assert missing == [], f"{len(missing)} without a description:\n" + "\n".join(missing)
