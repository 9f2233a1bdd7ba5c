"""Query limits: refuse hostile or runaway documents before they cost anything.

One iterative pass over the parsed document (no recursion, so no RecursionError on
deep or circular input), with each fragment measured once and reused (so fragment
"bombs" cannot multiply the work). Checked before GraphQL validation runs, since
some validation rules are quadratic in the number of fields. Introspection
(`__schema`, `__type`) is exempt from the depth limit so GraphiQL keeps working.
Before parsing (graphql-core's parser spends ~6 µs a token, its lexer a fraction of
that per character), a document longer than `max_query_length` or with more than
`max_tokens` tokens (counted by one regular expression) is refused at once. Field
pairs that validation would compare (same response name side by side; it is
quadratic) are bounded by `max_field_pairs`. Text PostgreSQL cannot store (NUL
characters, unpaired surrogates) is refused here too, as BAD_USER_INPUT, before any
resolver could send it to the database.
"""

from __future__ import annotations

import json
import re
import weakref
from collections import Counter
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
    StringValueNode,
    VariableNode,
    Visitor,
    parse,
    visit,
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
    max_query_length: int = 256 * 1024  # characters of the document (variables are apart)
    # Pairs of fields that GraphQL validation compares (same response name, or fragment
    # spreads, side by side in one selection set): quadratic, so `__typename` x 1,000
    # costs a second. 2,000 pairs is about 60 same-named fields together.
    max_field_pairs: int = 2_000


@dataclass
class Measure:
    depth: int = 0
    aliases: int = 0
    fields: int = 0
    cost: int = 0
    pairs: int = 0


# A lexer in one regular expression (C speed): counts a document's tokens before the
# parser (Python, ~6 µs a token) spends its time on a document over the limit. For a
# valid document the count is exact; comments are matched but not counted.
TOKENS = re.compile(r'''
    (\#[^\n\r]*)                                 # a comment: not a token
  | "{3}(?:\\"{3}|[^"]|"(?!""))*"{3}              # block string
  | "(?:\\.|[^"\\\n\r])*"                         # string
  | \.\.\.                                       # spread
  | [!$&()\:=@\[\]{|}]                            # punctuator
  | -?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?              # number
  | [_A-Za-z][_0-9A-Za-z]*                        # name
''', re.VERBOSE)


def more_tokens_than(query: str, limit: int) -> bool:
    count = 0
    for match in TOKENS.finditer(query):
        if match.group(1) is None:
            count += 1
            if count > limit:
                return True
    return False


NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")


def stand_in(operation_name: str | None) -> DocumentNode:
    """A tiny document in place of one refused unparsed (never executed)."""
    if operation_name and NAME.fullmatch(operation_name):
        return parse(f"query {operation_name} {{ __typename }}")
    return parse("{ __typename }")


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
        self.names_memo: dict[str, Counter[str]] = {}
        self.read_variables = False  # whether a `first: $var` made the measure depend on them

    def multiplier(self, field: FieldNode) -> int:
        for arg in field.arguments or ():
            if arg.name.value == "first":
                value: Any = None
                if isinstance(arg.value, IntValueNode):
                    value = int(arg.value.value)
                elif isinstance(arg.value, VariableNode):
                    self.read_variables = True
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

    def level(self, node: SelectionSetNode) -> tuple[Counter[str], int]:
        """The response names of one level of fields (inline fragments and fragment spreads
        merged in, as validation merges them) and the number of fragment spreads."""
        names: Counter[str] = Counter()
        spreads = 0
        stack = [node]
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, FieldNode):
                    names[(selection.alias or selection.name).value] += 1
                elif isinstance(selection, InlineFragmentNode):
                    stack.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    spreads += 1
                    names.update(self.fragment_names(selection.name.value))
        return names, spreads

    def fragment_names(self, name: str) -> Counter[str]:
        if name in self.names_memo:
            return self.names_memo[name]
        if name in self.in_progress or name not in self.fragments:
            return Counter()  # a cycle or unknown fragment: validation reports it
        self.in_progress.add(name)
        names, _ = self.level(self.fragments[name].selection_set)
        self.in_progress.discard(name)
        self.names_memo[name] = names
        return names

    def pairs(self, node: SelectionSetNode) -> int:
        names, spreads = self.level(node)
        return sum(n * (n - 1) // 2 for n in names.values()) + spreads * (spreads - 1) // 2

    def selection_set(self, root: SelectionSetNode | None, introspection: bool) -> Measure:
        """Measure a selection set; an explicit stack instead of recursion for fields."""
        total = Measure()
        if root is None:
            return total
        total.pairs += self.pairs(root)
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
                        total.pairs += self.pairs(selection.selection_set)
                        stack.append((selection.selection_set, depth + 1, m, is_intro))
                elif isinstance(selection, InlineFragmentNode):
                    stack.append((selection.selection_set, depth, mult, intro))
                elif isinstance(selection, FragmentSpreadNode):
                    inner = self.fragment(selection.name.value)
                    total.fields += inner.fields
                    total.aliases += inner.aliases
                    total.pairs += inner.pairs
                    if not intro:
                        total.depth = max(total.depth, depth - 1 + inner.depth)
                    total.cost += mult * inner.cost
            if total.fields > self.limits.max_fields * 10:
                break  # already far over: stop early
        return total


# Documents (the same objects: the document cache hands out one per query text) that
# passed these limits with a measure not depending on the variables: checked once, not on
# every request (measuring a small mutation cost ~2 % of its server CPU). id -> (the
# document, the limits); an entry goes when its document is collected.
_passed: dict[int, tuple[weakref.ref[DocumentNode], Limits]] = {}


def check(document: DocumentNode, variables: dict[str, Any] | None,
          limits: Limits) -> GraphQLError | None:
    key = id(document)
    known = _passed.get(key)
    if known is not None and known[0]() is document and known[1] is limits:
        return None
    measurer = Measurer(document, variables or {}, limits)
    error = _measured(measurer, document, limits)
    if error is None and not measurer.read_variables:
        _passed[key] = (weakref.ref(document, lambda _ref: _passed.pop(key, None)), limits)
    return error


def _measured(measurer: Measurer, document: DocumentNode,
              limits: Limits) -> GraphQLError | None:
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
        if m.pairs > limits.max_field_pairs:
            return too_complex(f"the document repeats fields too often ({m.pairs} pairs of "
                               f"fields to compare; the limit is {limits.max_field_pairs})")
    for name in measurer.fragments:  # validated even when unused
        pairs = measurer.fragment(name).pairs
        if pairs > limits.max_field_pairs:
            return too_complex(f"fragment {name} repeats fields too often ({pairs} pairs of "
                               f"fields to compare; the limit is {limits.max_field_pairs})")
    return None


def unstorable(value: str) -> bool:
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable_json(variables: dict[str, Any] | None) -> bool:
    """True when no string in `variables` can be unstorable, seen from their JSON text in
    one pass of C code: json writes a NUL as "\\u0000" and, with ensure_ascii off, an
    unpaired surrogate as itself, which UTF-8 cannot encode. (Walking 10,000 usage
    records string by string cost more than their coercion.) False means "look closer"."""
    if not variables:
        return True
    written = json.dumps(variables, ensure_ascii=False, default=str)
    return "\\u0000" not in written and not unstorable(written)


def unstorable_text(document: DocumentNode, variables: dict[str, Any] | None,
                    query: str | None = None) -> GraphQLError | None:
    """BAD_USER_INPUT for a string PostgreSQL cannot store: one with a NUL character or an
    unpaired surrogate (JSON allows "\\u0000" and "\\ud800"; a text column does not).
    The document's literals are only looked at when its text could hold one."""
    message = "text must not contain NUL characters or unpaired surrogates"
    stack: list[tuple[str, Any]] = [] if storable_json(variables) else [
        (f"${name}", v) for name, v in (variables or {}).items()]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if unstorable(value):
                return GraphQLError(f"{path}: {message}", extensions={
                    "code": ErrorCode.BAD_USER_INPUT.value, "field": path})
        elif isinstance(value, dict):
            stack.extend((f"{path}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{n}]", v) for n, v in enumerate(value))
    if query is not None and "\\u" not in query and not unstorable(query):
        return None
    literals: list[str] = []

    class Strings(Visitor):
        def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
            literals.append(node.value)

    visit(document, Strings())
    if any(unstorable(value) for value in literals):
        return GraphQLError(message, extensions={"code": ErrorCode.BAD_USER_INPUT.value})
    return None


def query_limits(limits: Limits) -> type[SchemaExtension]:
    """The extension class for these limits (extensions are passed as classes)."""

    class QueryLimits(SchemaExtension):
        def on_parse(self) -> Iterator[None]:
            ctx = self.execution_context
            query = ctx.query or ""
            refusal = None
            if len(query) > limits.max_query_length:
                refusal = too_complex(f"the document is longer than {limits.max_query_length} "
                                      "characters (send large values as variables)")
            elif len(query) > limits.max_tokens and more_tokens_than(query, limits.max_tokens):
                refusal = too_complex(f"the document has more than {limits.max_tokens} tokens")
            if refusal is not None:
                # Not parsed: a stand-in document carries the refusal through validation
                # (skipped) to the client, over HTTP and websockets alike.
                ctx.graphql_document = stand_in(ctx.operation_name)
                ctx.pre_execution_errors = [refusal]
            else:
                ctx.parse_options["max_tokens"] = limits.max_tokens
            yield

        def on_validate(self) -> Iterator[None]:
            ctx = self.execution_context
            if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
                error = (check(ctx.graphql_document, ctx.variables, limits)
                         or unstorable_text(ctx.graphql_document, ctx.variables, ctx.query))
                if error is not None:
                    ctx.pre_execution_errors = [error]
            yield

    return QueryLimits
