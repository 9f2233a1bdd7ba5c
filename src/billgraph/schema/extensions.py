"""Schema extensions: the write-scope check and the one place errors get their codes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from billgraph.services.errors import BillgraphError, ErrorCode

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


def coded(error: GraphQLError, request_id: str) -> GraphQLError:
    """The error as the client sees it: a code always, internals never."""
    original = error.original_error
    if isinstance(original, BillgraphError):
        return GraphQLError(original.message, nodes=error.nodes, path=error.path,
                            extensions=original.extensions())
    if error.extensions and "code" in error.extensions:
        return error
    if original is None or error.path is None:
        # parse, validation and variable coercion errors: the client's input
        return GraphQLError(error.message, nodes=error.nodes, path=error.path,
                            extensions={"code": ErrorCode.BAD_USER_INPUT.value})
    log.error("unexpected error (request id %s) at %s", request_id, error.path,
              exc_info=original)
    return GraphQLError(f"internal error; request id {request_id}", nodes=error.nodes,
                        path=error.path,
                        extensions={"code": ErrorCode.INTERNAL.value, "requestId": request_id})


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", "-")
        result.errors = [coded(e, request_id) for e in result.errors]
