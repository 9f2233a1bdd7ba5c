"""The /graphql endpoint: Strawberry's ASGI view with API-key authentication.

HTTP: every GraphQL request needs `Authorization: Bearer KEY`; without a valid
key the answer is HTTP 401 with code UNAUTHENTICATED. The GraphiQL page itself
(a browser GET without a query) needs no key.
Websockets (graphql-transport-ws only): the key comes in the connection_init
payload {"Authorization": "Bearer KEY"} or as the upgrade request's header.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType

from billgraph.context import Context
from billgraph.hot_paths import HotPaths
from billgraph.ratelimit import Decision
from billgraph.services.errors import ErrorCode
from billgraph.services.tenants import Principal
from billgraph.state import AppState

log = logging.getLogger(__name__)

POST_OPERATIONS = OperationType.from_http("POST")


def bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def error_response(status: int, code: ErrorCode, message: str) -> Response:
    return JSONResponse({"data": None, "errors": [{"message": message,
                                                    "extensions": {"code": code.value}}]},
                        status_code=status)


def too_large(limit: int) -> Response:
    return error_response(413, ErrorCode.QUERY_TOO_COMPLEX,
                          f"request body larger than {limit} bytes")


def bad_request(message: str) -> Response:
    return error_response(400, ErrorCode.BAD_USER_INPUT, message)


def unauthenticated(message: str) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message,
                                   "extensions": {"code": ErrorCode.UNAUTHENTICATED.value}}]},
        status_code=401, headers={"WWW-Authenticate": "Bearer"},
    )


def unavailable(request_id: str) -> Response:
    """503 while the database cannot be reached (a restart, an outage): retry shortly."""
    return JSONResponse(
        {"data": None, "errors": [{
            "message": f"the service is unavailable; retry shortly (request id {request_id})",
            "extensions": {"code": ErrorCode.INTERNAL.value, "retryable": True,
                           "requestId": request_id}}]},
        status_code=503, headers={"Retry-After": "1"})


def rate_limited(decision: Decision, rate: float) -> Response:
    """429: the tenant's bucket is empty (ratelimit.py); retry after Retry-After seconds."""
    return JSONResponse(
        {"data": None, "errors": [{
            "message": f"rate limit of {rate:g} requests/s per tenant reached "
                       f"(burst {decision.limit}); retry in {decision.retry_after} s",
            "extensions": {"code": ErrorCode.RATE_LIMITED.value, "retryable": True,
                           "retryAfter": decision.retry_after}}]},
        status_code=429, headers=decision.headers())


def with_headers(send: Send, headers: dict[str, str]) -> Send:
    """`send` adding `headers` to the response start."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *raw]}
        await send(message)

    return sending


class BillgraphGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: BaseSchema, state: AppState, *, graphiql: bool = True,
                 graphiql_html: str | None = None,
                 hot_paths: Callable[[GraphQL[Context, None]], HotPaths] | None = None,
                 ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(
                seconds=state.settings.ws_init_timeout_seconds),
            max_subscriptions_per_connection=state.settings.max_subscriptions_per_connection,
        )
        self.state = state
        self.graphiql_html = graphiql_html
        self.hot_paths = hot_paths(self) if hot_paths is not None else None

    async def render_graphql_ide(self, request: Request) -> Response:
        """Our GraphiQL page (billgraph.graphiql), else Strawberry's."""
        if self.graphiql_html is not None:
            return HTMLResponse(self.graphiql_html)
        return await super().render_graphql_ide(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})
        scope["state"]["request_id"] = uuid.uuid4().hex[:16]
        if scope["type"] == "http":
            request = Request(scope, receive)
            body = None
            if request.method == "POST":
                refusal, receive, body = await self._read_body(request, receive)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
            if not self._is_ide_page(request):
                token = bearer(request.headers.get("authorization"))
                if token is None:
                    await unauthenticated("missing API key: send Authorization: Bearer KEY")(
                        scope, receive, send)
                    return
                try:
                    principal = await self.state.authenticate(token)
                except Exception:
                    log.warning("cannot authenticate: the database is unavailable",
                                exc_info=True)
                    await unavailable(scope["state"]["request_id"])(scope, receive, send)
                    return
                if principal is None:
                    await unauthenticated("invalid, expired or revoked API key")(
                        scope, receive, send)
                    return
                scope["state"]["principal"] = principal
                limiter = self.state.limiter
                if limiter.enabled:
                    decision = limiter.take(principal.tenant_id)
                    if not decision.allowed:
                        await rate_limited(decision, limiter.rate)(scope, receive, send)
                        return
                    send = with_headers(send, decision.headers())
                if body is not None and self.hot_paths is not None \
                        and request.headers.get("content-type", "").startswith(
                            "application/json"):
                    answer = await self.hot_paths.answer(
                        body, await self.get_context(request, None))
                    if answer is not None:
                        await Response(answer, media_type="application/json")(
                            scope, receive, send)
                        return
                if body is not None:
                    response = await self._post(request, body)
                    if response is not None:
                        await response(scope, receive, send)
                        return
        await super().__call__(scope, receive, send)

    async def _post(self, request: Request, body: bytes) -> Response | None:
        """The response to a plain JSON POST — strawberry's own steps for it (`run`:
        context, `execute_single`, `process_result`, `create_response`) without the
        parsing and dispatch any request pays there (the content type parsed with the
        email package, the body's checks, the request adapters: ~5 % of a small
        mutation's CPU). None, and strawberry's `run` answers, for anything else: another
        content type, a streaming Accept header, a body that is not a JSON object of a
        string query with object-or-null variables and extensions."""
        media_type = request.headers.get("content-type", "").partition(";")[0].strip()
        if media_type != "application/json" or (
                self._stream_transport_map
                and self._get_stream_transport_from_headers(request.headers) is not None):
            return None
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if type(data) is not dict:
            return None
        query, variables = data.get("query"), data.get("variables")
        name, extensions = data.get("operationName"), data.get("extensions")
        if type(query) is not str or not (variables is None or type(variables) is dict) \
                or not (name is None or type(name) is str) \
                or not (extensions is None or type(extensions) is dict):
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, response=sub_response)
        root_value = await self.get_root_value(request)  # type: ignore[func-returns-value]
        try:  # what `execute_single` runs for a POST, its refusals as the ASGI view's
            result = await self.schema.execute(
                query, root_value=root_value, variable_values=variables,
                context_value=context, operation_name=name,
                allowed_operation_types=POST_OPERATIONS, operation_extensions=extensions)
        except CannotGetOperationTypeError as e:
            return PlainTextResponse(e.as_http_error_reason(), status_code=400)
        except InvalidOperationTypeError as e:
            return PlainTextResponse(e.as_http_error_reason("POST"), status_code=400)
        except MissingQueryError:
            return PlainTextResponse("No GraphQL query found in the request", status_code=400)
        response_data = await self.process_result(request=request, result=result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data=response_data, sub_response=sub_response)

    async def _read_body(self, request: Request, receive: Receive,
                         ) -> tuple[Response | None, Receive, bytes]:
        """Read the body once, refusing it past the size limit or when it is a batch."""
        limit = self.state.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return too_large(limit), receive, b""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if len(body) > limit:
                return too_large(limit), receive, b""
            if not message.get("more_body", False):
                break
        if body.lstrip()[:1] == b"[":
            return bad_request("batched (array) requests are not supported: send one "
                               "operation per request"), receive, b""
        replayed, data = False, bytes(body)

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        return None, replay, data

    def _is_ide_page(self, request: Request) -> bool:
        return (request.method == "GET" and "query" not in request.query_params
                and "text/html" in request.headers.get("accept", ""))

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        state = request.scope.get("state", {})
        return Context(request=request, response=response, state=self.state,
                       request_id=state.get("request_id", "-"),
                       principal=state.get("principal"))

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        token = bearer(header if isinstance(header, str) else None)
        if token is None:
            token = bearer(context.request.headers.get("authorization"))
        principal: Principal | None = await self.state.authenticate(token) if token else None
        if principal is None:
            raise ConnectionRejectionError(
                {"message": "missing, invalid, expired or revoked API key"})
        context.principal = principal
        return None
