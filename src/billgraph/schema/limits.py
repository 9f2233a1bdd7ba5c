"""Query limits: refuse hostile or runaway documents before they cost anything.

One iterative pass over the parsed document (no recursion, so no RecursionError on
deep or circular input), with each fragment measured once and reused (so fragment
"bombs" cannot multiply the work). Checked before GraphQL validation runs, since
some validation rules are quadratic in the number of fields. Introspection
(`__schema`, `__type`) is exempt from the depth limit so GraphiQL keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

from billgraph.services.errors import ErrorCode

CONNECTION_FIELDS = {"accounts", "subscriptions", "invoices"}
TOKEN_LIMIT_MESSAGE = "tokens. Parsing aborted"


@dataclass(frozen=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 60
    max_fields: int = 1000
    max_cost: int = 50_000
    max_tokens: int = 10_000
    default_page: int = 50


@dataclass
class Measure:
    depth: int = 0
    aliases: int = 0
    fields: int = 0
    cost: int = 0


def too_complex(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": ErrorCode.QUERY_TOO_COMPLEX.value})


class Measurer:
    def __init__(self, document: DocumentNode, variables: dict[str, Any], limits: Limits) -> None:
        self.limits = limits
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.memo: dict[str, Measure] = {}
        self.in_progress: set[str] = set()

    def multiplier(self, field: FieldNode) -> int:
        for arg in field.arguments or ():
            if arg.name.value == "first":
                value: Any = None
                if isinstance(arg.value, IntValueNode):
                    value = int(arg.value.value)
                elif isinstance(arg.value, VariableNode):
                    value = self.variables.get(arg.value.name.value)
                if isinstance(value, int) and value > 0:
                    return value
        return self.limits.default_page if field.name.value in CONNECTION_FIELDS else 1

    def fragment(self, name: str) -> Measure:
        if name in self.memo:
            return self.memo[name]
        if name in self.in_progress or name not in self.fragments:
            return Measure()  # a cycle or unknown fragment: validation reports it
        self.in_progress.add(name)
        result = self.selection_set(self.fragments[name].selection_set, introspection=False)
        self.in_progress.discard(name)
        self.memo[name] = result
        return result

    def selection_set(self, root: SelectionSetNode | None, introspection: bool) -> Measure:
        """Measure a selection set; an explicit stack instead of recursion for fields."""
        total = Measure()
        if root is None:
            return total
        # stack of (selection set, depth, multiplier, in introspection)
        stack: list[tuple[SelectionSetNode, int, int, bool]] = [(root, 1, 1, introspection)]
        while stack:
            node, depth, mult, intro = stack.pop()
            for selection in node.selections:
                if isinstance(selection, FieldNode):
                    total.fields += 1
                    total.aliases += selection.alias is not None
                    is_intro = intro or selection.name.value in ("__schema", "__type")
                    if not is_intro:
                        total.depth = max(total.depth, depth)
                    m = mult * self.multiplier(selection)
                    total.cost += m
                    if selection.selection_set is not None:
                        stack.append((selection.selection_set, depth + 1, m, is_intro))
                elif isinstance(selection, InlineFragmentNode):
                    stack.append((selection.selection_set, depth, mult, intro))
                elif isinstance(selection, FragmentSpreadNode):
                    inner = self.fragment(selection.name.value)
                    total.fields += inner.fields
                    total.aliases += inner.aliases
                    if not intro:
                        total.depth = max(total.depth, depth - 1 + inner.depth)
                    total.cost += mult * inner.cost
            if total.fields > self.limits.max_fields * 10:
                break  # already far over: stop early
        return total


def check(document: DocumentNode, variables: dict[str, Any] | None,
          limits: Limits) -> GraphQLError | None:
    measurer = Measurer(document, variables or {}, limits)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        m = measurer.selection_set(definition.selection_set, introspection=False)
        if m.depth > limits.max_depth:
            return too_complex(f"query depth {m.depth} exceeds the limit of {limits.max_depth}")
        if m.aliases > limits.max_aliases:
            return too_complex(f"{m.aliases} aliases exceed the limit of {limits.max_aliases}")
        if m.fields > limits.max_fields:
            return too_complex(f"{m.fields} fields exceed the limit of {limits.max_fields}")
        if m.cost > limits.max_cost:
            return too_complex(f"estimated cost {m.cost} exceeds the limit of {limits.max_cost}")
    return None


def query_limits(limits: Limits) -> type[SchemaExtension]:
    """The extension class for these limits (extensions are passed as classes)."""

    class QueryLimits(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            self.execution_context.parse_options["max_tokens"] = limits.max_tokens
            yield

        def on_validate(self) -> Iterator[None]:
            ctx = self.execution_context
            if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
                error = check(ctx.graphql_document, ctx.variables, limits)
                if error is not None:
                    ctx.pre_execution_errors = [error]
            yield

    return QueryLimits
