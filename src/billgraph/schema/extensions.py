"""The one place errors get their codes (scopes and the audit trail: schema/scopes.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension

from billgraph.services.errors import BillgraphError, ErrorCode, RateLimited

from .limits import TOKEN_LIMIT_MESSAGE

log = logging.getLogger("billgraph.errors")


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


class WebsocketRateLimit(SchemaExtension):
    """Each operation started over a websocket takes a token of its tenant's bucket (HTTP
    requests take theirs in graphql_app, before any work); past the limit: RATE_LIMITED."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        principal = getattr(context, "principal", None)
        if principal is not None and isinstance(getattr(context, "request", None), WebSocket):
            limiter = context.state.limiter
            if limiter.enabled:
                decision = limiter.take(principal.tenant_id)
                if not decision.allowed:
                    raise RateLimited(f"rate limit of {limiter.rate:g} requests/s per tenant "
                                      f"reached; retry in {decision.retry_after} s")
        yield
