"""The cost of the GraphQL layer itself, for bench row 5d: a document executed by bare
graphql-core over its own response, already in memory.

The schema is the served SDL (`billgraph.api.schema`), built by graphql-core with
default resolvers, which read each field from the response dict the real server
answered: no strawberry, no loaders, no SQL, only parsing, validation, execution and
serialization of the same ~8,000 fields. Leaf values are passed through as they are
(custom scalars and enums are already serialized in the response).
"""

from __future__ import annotations

import time
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLScalarType,
    GraphQLSchema,
    build_schema,
    graphql_sync,
)


def identity(value: Any) -> Any:
    return value


def in_memory_schema(sdl: str) -> GraphQLSchema:
    schema = build_schema(sdl)
    for named in schema.type_map.values():
        if isinstance(named, GraphQLScalarType) and not named.name.startswith("__"):
            named.serialize = identity  # type: ignore[method-assign]
        elif isinstance(named, GraphQLEnumType) and not named.name.startswith("__"):
            named.serialize = identity  # type: ignore[method-assign,assignment]
    return schema


def cpu_per_execution(sdl: str, document: str, variables: dict[str, Any],
                      response: dict[str, Any], repeat: int) -> float:
    """CPU seconds of one execution of `document` over `response`, the least of `repeat`
    (the machine's noise only ever adds), after checking the result is the response."""
    schema = in_memory_schema(sdl)
    result = graphql_sync(schema, document, root_value=response, variable_values=variables)
    if result.errors or result.data != response:
        raise AssertionError(f"the in-memory execution differs: {result.errors}")
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        graphql_sync(schema, document, root_value=response, variable_values=variables)
        best = min(best, time.process_time() - started)
    return best
