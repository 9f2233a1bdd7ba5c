"""Schema extensions: the write-scope check and the one place errors get their codes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from billgraph.services.errors import BillgraphError, ErrorCode

from .limits import TOKEN_LIMIT_MESSAGE

log = logging.getLogger("billgraph.errors")


class WriteScope(SchemaExtension):
    """Mutations need a key with the `write` scope (FORBIDDEN otherwise)."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        principal = getattr(ctx.context, "principal", None)
        if ctx.operation_type == OperationType.MUTATION and (
            principal is None or not principal.can_write
        ):
            ctx.result = ExecutionResult(data=None, errors=[GraphQLError(
                "this API key has the read scope; mutations need a write key",
                extensions={"code": ErrorCode.FORBIDDEN.value})])
        yield


def apply_code(error: GraphQLError, request_id: str) -> None:
    """Give the error the form the client sees, in place: a code always, internals never."""
    original = error.original_error
    if isinstance(original, BillgraphError):
        error.message = original.message
        error.extensions = original.extensions()
    elif error.extensions and "code" in error.extensions:
        pass
    elif TOKEN_LIMIT_MESSAGE in error.message:
        error.extensions = {"code": ErrorCode.QUERY_TOO_COMPLEX.value}
    elif original is None or error.path is None:
        # parse, validation and variable coercion errors: the client's input
        error.extensions = {"code": ErrorCode.BAD_USER_INPUT.value}
    else:
        log.error("unexpected error (request id %s) at %s", request_id, error.path,
                  exc_info=original)
        error.message = f"internal error; request id {request_id}"
        error.extensions = {"code": ErrorCode.INTERNAL.value, "requestId": request_id}
