"""The README's GraphQL documents are valid against the schema, and its Guide shows
every root query, mutation and subscription, so the guide cannot rot unnoticed."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import OperationDefinitionNode, OperationType, parse, validate

from billgraph.api import build_schema

README = Path(__file__).parents[1] / "README.md"
BLOCK = re.compile(r"^```graphql\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_every_graphql_block_is_valid() -> None:
    schema = build_schema()._schema
    found = blocks()
    assert len(found) >= 40
    for text in found:
        errors = validate(schema, parse(text))
        assert not errors, f"README block is invalid: {[e.message for e in errors]}\n{text}"


def test_the_guide_shows_every_root_field() -> None:
    schema = build_schema()._schema
    used: dict[OperationType, set[str]] = {kind: set() for kind in OperationType}
    for text in blocks():
        for definition in parse(text).definitions:
            if isinstance(definition, OperationDefinitionNode):
                used[definition.operation] |= {
                    s.name.value for s in definition.selection_set.selections  # type: ignore[attr-defined]
                }
    roots = {OperationType.QUERY: schema.query_type, OperationType.MUTATION: schema.mutation_type,
             OperationType.SUBSCRIPTION: schema.subscription_type}
    for kind, root in roots.items():
        assert root is not None
        missing = sorted(set(root.fields) - used[kind])
        assert not missing, f"add an example of these {kind.value} fields to README's Guide: " \
                            f"{missing}"
