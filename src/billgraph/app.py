"""create_app(): the routes (/graphql, /invoices/{id}.pdf, /healthz, /readyz, /metrics) and
the lifespan."""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
from collections.abc import AsyncIterator
from typing import Any

from alembic.script import ScriptDirectory
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from billgraph import bootstrap, graphiql
from billgraph.api import build_schema
from billgraph.config import Settings
from billgraph.context import Context
from billgraph.db.migrate import alembic_config
from billgraph.documents import invoice_pdf_route
from billgraph.graphql_app import BillgraphGraphQL
from billgraph.hot_paths import HotPaths
from billgraph.observability import (
    Metrics,
    count_statements,
    metrics_endpoint,
    observe,
    readiness,
)
from billgraph.schema.limits import Limits
from billgraph.workers import Workers
from billgraph.workers.access import key_usage_flusher

log = logging.getLogger(__name__)


class App(Starlette):
    """Starlette, with a POST to /graphql handed straight to the GraphQL view.

    Every GraphQL call is such a POST; through Starlette's middleware stack and router it
    cost ~3 % of a createOrder's server CPU (py-spy; bench/RESULTS.md, issue 13 session 11)
    for nothing: the view answers every request itself, and an exception it lets out
    reaches uvicorn, which logs it and answers 500 as ServerErrorMiddleware would. Every
    other request (GET /graphql and the GraphiQL page, websockets, the other routes, the
    lifespan) goes through Starlette as before."""

    def __init__(self, graphql: ASGIApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graphql = graphql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST"
                and scope["path"] == scope.get("root_path", "") + "/graphql"):
            scope["app"] = self
            await self.graphql(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings) -> Starlette:
    """The ASGI app. `settings.database_url` must point at a migrated database."""
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (the CLI starts the embedded one)")
    state = bootstrap.app_state(settings, pool_size=settings.pool_size,
                                max_overflow=settings.pool_overflow,
                                lock_timeout_ms=settings.lock_timeout_ms)
    engine = state.engine
    limits = Limits(max_depth=settings.max_query_depth, max_aliases=settings.max_aliases,
                    max_fields=settings.max_fields, max_cost=settings.max_query_cost,
                    max_tokens=settings.max_tokens, default_page=settings.default_page_size,
                    max_query_length=settings.max_query_length,
                    max_field_pairs=settings.max_field_pairs)
    metrics = Metrics()
    if settings.expose_sql_count:
        count_statements(engine)
    schema = build_schema(limits, introspection=settings.introspection,
                          observers=[observe(metrics, expose_sql_count=settings.expose_sql_count)])
    head = ScriptDirectory.from_config(alembic_config(settings.database_url)).get_current_head()
    assets = (graphiql.local_assets(settings.graphiql_assets, settings.data_dir)
              if settings.graphiql else None)
    hot_paths = None
    if settings.hot_paths:
        def hot_paths(view: GraphQL[Context, None]) -> HotPaths:
            return HotPaths(schema._schema, limits, metrics,
                            expose_sql_count=settings.expose_sql_count, encode=view.encode_json)
    graphql = BillgraphGraphQL(schema, state, graphiql=settings.graphiql,
                               graphiql_html=graphiql.render(local=assets is not None),
                               hot_paths=hot_paths)

    async def healthz(request: Request) -> JSONResponse:
        # which process answered (`serve --workers N` runs several on one port)
        return JSONResponse({"status": "ok"}, headers={"X-Billgraph-Pid": str(os.getpid())})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Everything loaded so far lives as long as the process: keep it out of the
        # garbage collector's scans (they cost ~half the CPU of a bulk request).
        gc.collect()
        gc.freeze()
        # A request allocates tens of thousands of short-lived objects (a 100-subscription
        # read resolves ~8,000 fields). At the default thresholds (700, 10, 10) a collection
        # ran every few hundred allocations and kept traversing the live objects of the
        # requests in flight: it doubled the CPU of concurrent reads. Young objects are
        # collected every 50,000 allocations instead. The middle generation is collected
        # every 2nd young collection: at 20, the objects of the requests in flight piled up
        # there (~1M under 32 concurrent 100-subscription reads) and one collection of it
        # stopped the process for up to 0.7 s — `{ __typename }`'s p99 was 540-630 ms
        # right after such reads, 60-120 ms at 2 (bench/RESULTS.md, issue 13 session 8).
        gc.set_threshold(50_000, 2, 10)
        await state.events.start()
        workers = Workers(state, bootstrap.daemons())
        if settings.run_workers:
            await workers.start()
        # lastUsedAt of this process's keys: in every serving process, workers or not
        usage = Workers(state, [key_usage_flusher])
        await usage.start()
        try:
            yield
        finally:
            await workers.stop()
            await usage.stop()
            with contextlib.suppress(Exception):
                await state.flush_key_usage()
            await state.events.stop()
            await engine.dispose()

    app = App(
        graphql,
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/invoices/{invoice_id}.pdf", invoice_pdf_route(state), methods=["GET"]),
            Route("/healthz", healthz),
            Route("/readyz", functools.partial(readiness, state, head)),
            Route("/metrics", functools.partial(metrics_endpoint, state, metrics)),
            *graphiql.routes(assets),
        ],
        lifespan=lifespan,
    )
    app.state.billgraph = state
    return app
