"""Descriptions that follow from the API's conventions, filled in where a field has none.

Connections, edges, ids, timestamps and the paging and idempotency arguments mean the
same thing everywhere; writing that out on every type would say it a dozen times.
`describe_conventions` adds those descriptions to the built schema (never replacing
one written in code), so GraphiQL's Docs pane explains them too. Everything specific
is described where it is declared (schema/, resolvers/); tests/test_schema_descriptions.py
fails on anything left without a description.
"""

from __future__ import annotations

import re

from graphql import (
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)

ROOTS = {
    "query": "Reads. Every operation is scoped to the tenant of the API key "
             "(Authorization: Bearer KEY).",
    "mutation": "Writes (a write key is needed). A failed mutation returns an error whose "
                "extensions.code is an ErrorCode; create mutations take an idempotencyKey.",
    "subscription": "Live events over a websocket on /graphql (graphql-transport-ws); the key "
                    "goes in the connection_init payload {\"Authorization\": \"Bearer KEY\"}.",
}
# Arguments mean the same wherever they appear: a glossary by name.
ARGUMENTS = {
    "first": "How many items (default BILLGRAPH_DEFAULT_PAGE_SIZE, at most "
             "BILLGRAPH_MAX_PAGE_SIZE).",
    "after": "A cursor (pageInfo.endCursor, or an edge's cursor): the page starts after it.",
    "idempotencyKey": "Up to 255 characters, kept 24 hours: the same key with the same input "
                      "returns the first result without doing the work again; with other input "
                      "it is IDEMPOTENCY_KEY_REUSED.",
    "filter": "Narrows the list; omitted fields do not filter.",
    "inputs": "The invoices to create, at most 1,000; each succeeds or fails on its own.",
    "applications": "Which posted invoices and debit memos (of the same account and currency) "
                    "get how much.",
    "partner": "true: a partner account, its metrics recomputed by the refresher; false: "
               "synchronous metrics (recomputed at once).",
    "amount": "How much to refund: more than 0, at most the unapplied amount.",
    "username": "The user's name, unique per tenant.",
    "usageDate": "The day the usage was measured; the highest report of a service period is "
                 "billed.",
    "concurrentUsage": "The concurrent usage measured that day (0 or more).",
}
EXAMPLES = {"account": "A00000001", "invoice": "INV00000001", "subscription": "S00000001",
            "order": "O00000001"}


def _words(type_name: str) -> str:
    """'CreditMemo' -> 'credit memo'."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type_name).lower()


def _field(type_name: str, name: str) -> str | None:
    thing = _words(type_name)
    if type_name.endswith("Connection"):
        node = _words(type_name.removesuffix("Connection"))
        return {"edges": f"The {node}s of this page, each with its cursor.",
                "pageInfo": "Where this page ends and whether more follow.",
                "totalCount": f"How many {node}s match, across all pages."}.get(name)
    if type_name.endswith("Edge"):
        node = _words(type_name.removesuffix("Edge"))
        return {"cursor": f"Pass as `after` for the {node}s after this one.",
                "node": f"The {node}."}.get(name)
    return {"id": f"The {thing}'s id.",
            "createdAt": f"When the {thing} was created.",
            "updatedAt": f"When the {thing} last changed."}.get(name)


def _type(kind: GraphQLNamedType) -> str | None:
    if kind.name.endswith("Edge"):
        return f"A {_words(kind.name.removesuffix('Edge'))} and its cursor, in a page."
    if kind.name.endswith("Connection"):
        return f"A page of {_words(kind.name.removesuffix('Connection'))}s (Relay connection)."
    return None


def _argument(name: str, returns: GraphQLNamedType, field: str) -> str | None:
    if name in ARGUMENTS:
        return ARGUMENTS[name]
    target = _words(returns.name.removesuffix("Summary").removesuffix("Update"))
    if name in ("id", "code"):
        return f"The {target}'s {name}."
    if name == "input":
        verb = "create" if field.startswith(("create", "billRun")) else "change"
        return f"What to {verb}; the input type describes each field."
    if name.endswith("Id"):
        return f"The {_words(name.removesuffix('Id'))}'s id."
    if name.endswith("Number"):
        thing = _words(name.removesuffix("Number"))
        example = EXAMPLES.get(thing)
        return f"The {thing} number{f' (e.g. {example})' if example else ''}."
    return None


def describe_conventions(schema: GraphQLSchema) -> None:
    roots = {"query": schema.query_type, "mutation": schema.mutation_type,
             "subscription": schema.subscription_type}
    for key, root in roots.items():
        if root is not None and not root.description:
            root.description = ROOTS[key]
    for kind in schema.type_map.values():
        if kind.name.startswith("__"):
            continue
        if not kind.description:
            kind.description = _type(kind)
        if not isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for name, field in kind.fields.items():
            if not field.description:
                field.description = _field(kind.name, name)
            for arg_name, argument in field.args.items():
                if not argument.description:
                    argument.description = _argument(arg_name, get_named_type(field.type), name)
