"""Hot operations the /graphql view answers without graphql-core's per-value work.

recordUsage takes up to 10,000 records a call. Executed by graphql-core, coercing the
variables (every record's five fields through the input-object and scalar code),
strawberry's conversion of the arguments and completing the 10,000 results (four fields
each, every one through a resolver and a completion) cost ~60 % of the call's server
CPU, more than the write itself. For a request that is exactly the usual form of such a
call, the view answers here, and everything else is left to graphql-core, which answers
as before:

* the document: one mutation operation whose one root field is ``recordUsage`` with its
  ``records`` from the one variable of type ``[UsageRecordInput!]!``, selecting plain
  fields of UsageRecordResult and JobError (aliases and ``__typename`` too); no
  fragments, directives, literals or repeated response names. Parsed, checked against
  the query limits and validated by graphql-core once, then cached by its text.
* the variables: exactly that one, a list of objects each with exactly the five fields,
  the strings JSON strings, quantity and timestamp what the scalars' own parse functions
  accept (`scalars.parse_decimal`, `scalars.parse_datetime`), no text PostgreSQL cannot
  store (a NUL, an unpaired surrogate). Anything else — a missing or extra field, a null,
  a number for a string, a bad decimal — goes to graphql-core, so its error is
  graphql-core's own.

What runs is the field's own: the resolver function (`resolvers.usage.record_usage`), the
write scope check and audit event (`scopes.audited`), the operation's metrics and log
context (`observability.Observation`), errors located and coded as the schema does
(`apply_code`), the response encoded by the view's encoder. tests/api/test_hot_paths.py
sends the same requests to a server with hot paths and one without and compares the
answers byte for byte, and the stored rows and audit events; tests/unit/test_hot_paths.py
checks the coercion against graphql-core's with hypothesis.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    TypeNode,
    VariableNode,
    located_error,
    parse,
    specified_rules,
)
from strawberry.schema.schema import validate_document

from billgraph.context import Context
from billgraph.observability import Metrics, Observation, operation_var
from billgraph.resolvers import usage
from billgraph.schema.extensions import apply_code
from billgraph.schema.limits import Limits, check, more_tokens_than, storable_json
from billgraph.schema.scalars import parse_datetime, parse_decimal
from billgraph.schema.scopes import audited
from billgraph.services import metered_usage

ROOT_FIELD = "recordUsage"
RECORDS_TYPE = "[UsageRecordInput!]!"
INPUT_FIELDS = ("recordId", "subscriptionNumber", "productCode", "quantity", "timestamp")
CACHED_DOCUMENTS = 256

Getter = Callable[[Any], Any]


Getters = tuple[tuple[str, Getter], ...]  # (response key, getter) per selected field

ERROR_FIELDS: dict[str, Getter] = {
    "__typename": lambda _e: "JobError",
    "code": lambda e: e["code"],
    "message": lambda e: e["message"],
    "field": lambda e: e.get("field"),
}
RESULT_FIELDS: dict[str, Getter] = {
    "__typename": lambda _r: "UsageRecordResult",
    "recordId": attrgetter("record_id"),
    "accepted": attrgetter("accepted"),
    "duplicate": attrgetter("duplicate"),
}


def _errors_getter(sub: Getters) -> Getter:
    def errors(result: Any) -> list[dict[str, Any]]:
        return [{key: get(e) for key, get in sub} for e in result.errors]
    return errors


# fields with a selection of their own: (their fields, the getter made from the selection)
RESULT_LISTS: dict[str, tuple[dict[str, Getter], Callable[[Getters], Getter]]] = {
    "errors": (ERROR_FIELDS, _errors_getter),
}


def _getters(selection: SelectionSetNode, fields: dict[str, Getter],
             lists: dict[str, tuple[dict[str, Getter], Callable[[Getters], Getter]]],
             ) -> Getters | None:
    """The getters of a selection, or None when it is not plain: a fragment, a directive,
    an argument, an unknown field, a (missing) sub-selection, a repeated response key."""
    out: list[tuple[str, Getter]] = []
    for node in selection.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            return None
        name = node.name.value
        if name in lists and node.selection_set is not None:
            sub_fields, make = lists[name]
            sub = _getters(node.selection_set, sub_fields, {})
            if sub is None:
                return None
            get = make(sub)
        elif name in fields and node.selection_set is None:
            get = fields[name]
        else:
            return None
        out.append(((node.alias or node.name).value, get))
    return tuple(out) if len({k for k, _ in out}) == len(out) else None


def _type_text(node: TypeNode) -> str:
    if isinstance(node, NonNullTypeNode):
        return _type_text(node.type) + "!"
    if isinstance(node, ListTypeNode):
        return "[" + _type_text(node.type) + "]"
    assert isinstance(node, NamedTypeNode)
    return node.name.value


@dataclass(frozen=True)
class Plan:
    """How to answer one recordUsage document."""

    field_node: FieldNode
    operation_name: str | None  # the operation's own name (None: anonymous)
    root_key: str  # the response key of recordUsage
    variable: str  # the name of the records variable
    getters: Getters

    def items(self, results: list[metered_usage.UsageRecordResult]) -> list[dict[str, Any]]:
        getters = self.getters
        return [{key: get(r) for key, get in getters} for r in results]


def compile_plan(schema: Any, limits: Limits, query: str) -> Plan | None:
    """The plan of `query`, or None when it is not a document this path answers."""
    if len(query) > limits.max_query_length or (
            len(query) > limits.max_tokens and more_tokens_than(query, limits.max_tokens)):
        return None
    try:
        document = parse(query, max_tokens=limits.max_tokens)
    except GraphQLError:
        return None
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if not isinstance(operation, OperationDefinitionNode) \
            or operation.operation != OperationType.MUTATION or operation.directives \
            or len(operation.variable_definitions or ()) != 1 \
            or len(operation.selection_set.selections) != 1:
        return None
    [definition] = operation.variable_definitions or ()
    root = operation.selection_set.selections[0]
    if definition.default_value is not None or definition.directives \
            or _type_text(definition.type) != RECORDS_TYPE \
            or not isinstance(root, FieldNode) or root.name.value != ROOT_FIELD \
            or root.directives or root.selection_set is None or len(root.arguments or ()) != 1:
        return None
    [argument] = root.arguments or ()
    if argument.name.value != "records" or not isinstance(argument.value, VariableNode) \
            or argument.value.name.value != definition.variable.name.value:
        return None
    getters = _getters(root.selection_set, RESULT_FIELDS, RESULT_LISTS)
    if getters is None or not getters:
        return None
    if check(document, None, limits) is not None \
            or validate_document(schema, document, tuple(specified_rules)):
        return None
    return Plan(field_node=root,
                operation_name=operation.name.value if operation.name else None,
                root_key=(root.alias or root.name).value,
                variable=definition.variable.name.value, getters=getters)


Coerced = tuple[list[dict[str, Any]], list[metered_usage.UsageRecordInput]]


def coerce_records(value: Any) -> Coerced | None:
    """The records variable as graphql-core would coerce it (the audit event's form: each
    record's fields in the type's order) and as the service's records; None for anything
    but a list of complete, well-formed records (graphql-core then says what is wrong)."""
    if type(value) is not list:
        return None
    coerced: list[dict[str, Any]] = []
    records: list[metered_usage.UsageRecordInput] = []
    keep, build = coerced.append, records.append
    record_input = metered_usage.UsageRecordInput
    for item in value:
        if type(item) is not dict or len(item) != 5:
            return None
        try:
            record_id = item["recordId"]
            subscription = item["subscriptionNumber"]
            product = item["productCode"]
            quantity = parse_decimal(item["quantity"])
            stamp = parse_datetime(item["timestamp"])
        except Exception:  # a missing field; what a scalar refuses
            return None
        if type(record_id) is not str or type(subscription) is not str \
                or type(product) is not str:
            return None
        keep({"recordId": record_id, "subscriptionNumber": subscription,
              "productCode": product, "quantity": quantity, "timestamp": stamp})
        build(record_input(record_id, subscription, product, quantity, stamp))
    return coerced, records


class HotPaths:
    """The view's hot paths, given the schema and settings the app was built with."""

    def __init__(self, schema: Any, limits: Limits, metrics: Metrics, *,
                 expose_sql_count: bool, encode: Callable[[object], str | bytes]) -> None:
        self.schema = schema  # graphql-core's GraphQLSchema
        self.limits = limits
        self.metrics = metrics
        self.expose_sql_count = expose_sql_count
        self.encode = encode
        self.plans: OrderedDict[str, Plan | None] = OrderedDict()

    def plan(self, query: str) -> Plan | None:
        if query in self.plans:
            self.plans.move_to_end(query)
            return self.plans[query]
        plan = compile_plan(self.schema, self.limits, query)
        self.plans[query] = plan
        if len(self.plans) > CACHED_DOCUMENTS:
            self.plans.popitem(last=False)
        return plan

    async def answer(self, body: bytes, context: Context) -> str | bytes | None:
        """The response body for this POSTed JSON `body`, or None: not a hot operation."""
        if ROOT_FIELD.encode() not in body or b"\x00" in body:  # (zero bytes: not UTF-8)
            return None
        try:
            request = json.loads(body)
        except ValueError:
            return None
        if type(request) is not dict or set(request) - {"query", "variables",
                                                        "operationName"}:
            return None
        query, variables = request.get("query"), request.get("variables")
        if type(query) is not str or type(variables) is not dict:
            return None
        plan = self.plan(query)
        if plan is None or list(variables) != [plan.variable]:
            return None
        name = request.get("operationName")
        if name is not None and name != plan.operation_name:
            return None
        coerced = coerce_records(variables[plan.variable])
        # JSON holds a NUL only as an escape (json.loads refuses it raw) and an unpaired
        # surrogate as an escape or as its UTF-8-style bytes ED A0..BF (json.loads decodes
        # them with surrogatepass): only a body with either is looked at string by string
        if coerced is None or ((b"\\u" in body or b"\xed" in body)
                               and not storable_json(variables)):
            return None
        return await self._run(plan, context, *coerced)

    async def _run(self, plan: Plan, context: Context, coerced: list[dict[str, Any]],
                   records: list[metered_usage.UsageRecordInput]) -> str | bytes:
        observation = Observation(self.metrics, context.request_id, context.principal)
        name = plan.operation_name or "anonymous"
        token = operation_var.set(name)
        codes: list[str] = []
        try:
            try:
                results = await audited(
                    context, operation=ROOT_FIELD, operation_name=plan.operation_name,
                    variables={"records": coerced},
                    call=lambda: usage.record_usage(context, records))
                response: dict[str, Any] = {"data": {plan.root_key: plan.items(results)}}
            except Exception as error:
                located = located_error(error, [plan.field_node], [plan.root_key])
                apply_code(located, context.request_id)
                codes.append(str((located.extensions or {}).get("code", "UNKNOWN")))
                response = {"data": None, "errors": [located.formatted]}
            if self.expose_sql_count:
                response["extensions"] = {"sqlStatements": observation.sql_cell[0]}
            return self.encode(response)
        finally:
            operation_var.reset(token)
            observation.close(name, OperationType.MUTATION.value, codes)
