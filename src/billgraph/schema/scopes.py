"""Key scopes (READ ⊂ WRITE ⊂ ADMIN) and the audit trail of mutations (SPEC §16).

- `AdminScope` is THE way a root field asks for an ADMIN key: declare it with
  `@strawberry.field(permission_classes=[AdminScope])` (or `strawberry.mutation`).
  Any other key gets FORBIDDEN; on a mutation the refusal is audited like any failure.
- `Audited` is put on every root field of Mutation by `audit_mutations()` (called
  where the schema is built), so a new mutation needs nothing to be audited. It
  refuses READ keys (FORBIDDEN: mutations need WRITE), makes the root field's
  `AuditRecord` current while it runs — AppState.write appends the event inside
  the field's write transaction — and, when the field fails (or never wrote),
  writes the event afterwards in a short transaction of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from graphql import GraphQLError, value_from_ast_untyped
from graphql.execution.values import VariableValues
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission
from strawberry.types import Info as StrawberryInfo
from strawberry.types.base import StrawberryObjectDefinition

from billgraph.services import audit
from billgraph.services.errors import BillgraphError, ErrorCode, Forbidden, Unauthenticated

log = logging.getLogger(__name__)
T = TypeVar("T")


class AdminScope(BasePermission):
    """Only an ADMIN key may use this field (FORBIDDEN otherwise)."""

    message = "this operation needs an API key with the ADMIN scope"
    error_extensions = {"code": ErrorCode.FORBIDDEN.value}  # noqa: RUF012 (strawberry's API)

    def has_permission(self, source: Any, info: StrawberryInfo[Any, Any], **kwargs: Any) -> bool:
        principal = getattr(info.context, "principal", None)
        return principal is not None and bool(principal.can_admin)


def outcome_of(error: BaseException) -> str:
    """The ErrorCode a failed root field answers with, as the audit event records it."""
    if isinstance(error, BillgraphError):
        return error.code.value
    if isinstance(error, GraphQLError):
        original = error.original_error
        if isinstance(original, BillgraphError):
            return original.code.value
        code = (error.extensions or {}).get("code")
        if isinstance(code, str):
            return code
    return ErrorCode.INTERNAL.value


def arguments(info: StrawberryInfo[Any, Any]) -> dict[str, Any]:
    """The root field's arguments as the client gave them: its literals, and the values of
    the variables it names (already coerced by the executor: nothing is parsed again)."""
    raw = info._raw_info
    variables: Any = raw.variable_values
    if isinstance(variables, VariableValues):
        variables = variables.coerced
    return {arg.name.value: value_from_ast_untyped(arg.value, variables or {})
            for arg in raw.field_nodes[0].arguments or ()}


async def audited(context: Any, *, operation: str, operation_name: str | None,
                  variables: dict[str, Any], call: Callable[[], Awaitable[T]]) -> T:
    """Run one Mutation root field's `call` with its write scope check and audit event.
    `Audited` does this for every field graphql-core executes; the hot paths
    (billgraph/hot_paths.py) for the fields they answer themselves: one implementation."""
    principal = getattr(context, "principal", None)
    if principal is None:
        raise Unauthenticated("missing or invalid API key")
    record = audit.AuditRecord(
        tenant_id=principal.tenant_id, api_key_id=principal.key_id, operation=operation,
        operation_name=operation_name, request_id=context.request_id, variables=variables)
    token = audit.CURRENT.set(record)
    try:
        if not principal.can_write:
            raise Forbidden("this API key has the read scope; mutations need a write key")
        result = await call()
    except Exception as error:
        if not record.written:  # (written: its change committed, with its OK event)
            await _outside(context.state, record, outcome_of(error))
        raise
    finally:
        audit.CURRENT.reset(token)
    if not record.written:
        await _outside(context.state, record, audit.OK)
    return result


async def _outside(state: Any, record: audit.AuditRecord, outcome: str) -> None:
    if not state.settings.audit:
        return
    try:
        async with state.engine.begin() as conn:
            await audit.append_outside(conn, record, outcome, datetime.now(UTC))
    except Exception:
        log.exception("cannot write the audit event of %s (request id %s, outcome %s)",
                      record.operation, record.request_id, outcome)


class Audited(FieldExtension):
    """Write scope check and audit event of one Mutation root field."""

    async def resolve_async(self, next_: Callable[..., Awaitable[Any]], source: Any,
                            info: StrawberryInfo[Any, Any], **kwargs: Any) -> Any:
        operation = info._raw_info.operation
        return await audited(
            info.context, operation=info.field_name,
            operation_name=operation.name.value if operation.name else None,
            variables=arguments(info), call=lambda: next_(source, info, **kwargs))


def audit_mutations(mutation: type) -> None:
    """Put `Audited` on every root field of the Mutation type (once)."""
    definition: StrawberryObjectDefinition = mutation.__strawberry_definition__  # type: ignore[attr-defined]
    for field in definition.fields:
        if not any(isinstance(e, Audited) for e in field.extensions):
            field.extensions.append(Audited())  # last: outermost, around AdminScope
