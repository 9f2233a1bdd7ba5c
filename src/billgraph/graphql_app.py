"""The /graphql endpoint: Strawberry's ASGI view with API-key authentication.

HTTP: every GraphQL request needs `Authorization: Bearer KEY`; without a valid
key the answer is HTTP 401 with code UNAUTHENTICATED. The GraphiQL page itself
(a browser GET without a query) needs no key.
Websockets (graphql-transport-ws only): the key comes in the connection_init
payload {"Authorization": "Bearer KEY"} or as the upgrade request's header.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from billgraph.context import Context
from billgraph.services.errors import ErrorCode
from billgraph.services.tenants import Principal
from billgraph.state import AppState


def bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def unauthenticated(message: str) -> Response:
    return JSONResponse(
        {"data": None, "errors": [{"message": message,
                                   "extensions": {"code": ErrorCode.UNAUTHENTICATED.value}}]},
        status_code=401, headers={"WWW-Authenticate": "Bearer"},
    )


class BillgraphGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: BaseSchema, state: AppState, *, graphiql: bool = True) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=20,
        )
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})
        scope["state"]["request_id"] = uuid.uuid4().hex[:16]
        if scope["type"] == "http":
            request = Request(scope, receive)
            if not self._is_ide_page(request):
                token = bearer(request.headers.get("authorization"))
                if token is None:
                    await unauthenticated("missing API key: send Authorization: Bearer KEY")(
                        scope, receive, send)
                    return
                principal = await self.state.authenticate(token)
                if principal is None:
                    await unauthenticated("invalid API key")(scope, receive, send)
                    return
                scope["state"]["principal"] = principal
        await super().__call__(scope, receive, send)

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
            raise ConnectionRejectionError({"message": "missing or invalid API key"})
        context.principal = principal
        return None
