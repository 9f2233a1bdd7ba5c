"""Parse and validate each distinct query text once, not on every request.

GraphQL validation walks the whole document with some thirty rules; for a small
mutation it cost more server CPU than the mutation's own work (bench/RESULTS.md).
Clients send the same few query texts over and over with different variables, so
the parsed document of a query text, and the fact that it passed validation, are
kept in a bounded LRU per schema.

What stays per request: the query limits run before this (`limits.check` measures a
document again only when its cost depends on the variables, a `first: $n`; it remembers
the one document object this cache hands out per text), and a document that failed them
or validation is never recorded as valid. Only short query texts are cached, so
hostile unique documents can neither grow memory (bounded entries of bounded size) nor
skip a check (a miss costs what no cache costs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension

MAX_ENTRIES = 256
MAX_QUERY_CHARS = 8_000


@dataclass
class _Entry:
    document: DocumentNode
    valid: bool = False


def document_cache(max_entries: int = MAX_ENTRIES,
                   max_query_chars: int = MAX_QUERY_CHARS) -> type[SchemaExtension]:
    """The extension class (its cache lives with the class: one per schema built).
    List it AFTER the query limits, whose parse options (max_tokens) key the cache and
    whose checks must run first on every request."""
    entries: OrderedDict[tuple[str, tuple[tuple[str, Any], ...]], _Entry] = OrderedDict()

    class DocumentCache(SchemaExtension):
        key: tuple[str, tuple[tuple[str, Any], ...]] | None = None
        hit: _Entry | None = None

        def on_parse(self) -> Iterator[None]:
            ctx = self.execution_context
            query = ctx.query
            if ctx.graphql_document is None and query and len(query) <= max_query_chars:
                self.key = (query, tuple(sorted(ctx.parse_options.items())))
                self.hit = entries.get(self.key)
                if self.hit is not None:
                    entries.move_to_end(self.key)
                    ctx.graphql_document = self.hit.document
            yield
            if self.key is not None and self.hit is None and ctx.graphql_document is not None:
                self.hit = entries[self.key] = _Entry(ctx.graphql_document)
                while len(entries) > max_entries:
                    entries.popitem(last=False)

        def on_validate(self) -> Iterator[None]:
            ctx = self.execution_context
            entry = self.hit
            known = (entry is not None and entry.valid
                     and ctx.graphql_document is entry.document)
            if known and ctx.pre_execution_errors is None:
                ctx.pre_execution_errors = []  # validated before: strawberry skips it
            yield
            if (entry is not None and not known and ctx.graphql_document is entry.document
                    and ctx.pre_execution_errors == []):
                entry.valid = True

    return DocumentCache
