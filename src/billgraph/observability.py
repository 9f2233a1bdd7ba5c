"""Observability: Prometheus metrics, /readyz, structured logs with request context.

Counters and histograms are fed by the GraphQL layer (requests and latency by
operation name, errors by code); gauges about the work in the database (refresher
lag, stale partner accounts, job queue depth, bill-run progress) are read at
scrape time with a few cheap queries.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.extensions import SchemaExtension

from billgraph.db import raw
from billgraph.state import AppState

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
tenant_var: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="-")
operation_var: contextvars.ContextVar[str] = contextvars.ContextVar("operation", default="-")
# SQL statements of the current GraphQL operation (a mutable cell shared by its tasks):
# those sent through SQLAlchemy are counted below, those of db.raw by db.raw itself
sql_count_var = raw.sql_count_var


def count_statements(engine: AsyncEngine) -> None:
    """Count the statements each GraphQL operation sends (shown when expose_sql_count is on)."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(*_args: Any) -> None:
        cell = sql_count_var.get()
        if cell is not None:
            cell[0] += 1


# Webhook deliveries, counted by the process that sends them (the delivery worker runs in
# `serve` and `worker`); registered in every app's registry.
webhook_deliveries = Counter(
    "billgraph_webhook_deliveries", "Webhook delivery tries by outcome (delivered; failed: "
    "gave up after the last retry; retrying: failed, tried again later)", ["outcome"],
    registry=None)
webhook_endpoint_failures = Counter(
    "billgraph_webhook_endpoint_failures", "Failed webhook delivery tries by endpoint",
    ["endpoint"], registry=None)


class Metrics:
    """One registry per app (tests run several apps in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("billgraph_graphql_requests", "GraphQL operations",
                                ["operation", "type"], registry=r)
        self.latency = Histogram("billgraph_graphql_latency_seconds", "GraphQL operation latency",
                                 ["operation", "type"], registry=r,
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.errors = Counter("billgraph_graphql_errors", "GraphQL errors by code", ["code"],
                              registry=r)
        self.refresher_lag = Gauge("billgraph_refresher_lag_seconds",
                                   "Age of the oldest stale mark of an account due for refresh",
                                   registry=r)
        self.stale_accounts = Gauge("billgraph_stale_partner_accounts",
                                    "Partner accounts with metrics waiting for the refresher",
                                    registry=r)
        self.jobs = Gauge("billgraph_job_queue_depth", "Jobs not finished", ["status"], registry=r)
        self.bill_runs = Gauge("billgraph_bill_run_accounts_processed",
                               "Progress of running bill runs", ["bill_run"], registry=r)
        r.register(webhook_deliveries)
        r.register(webhook_endpoint_failures)
        self.webhook_oldest = Gauge("billgraph_webhook_oldest_pending_seconds",
                                    "Age of the oldest webhook delivery not yet delivered "
                                    "(enabled endpoints)", registry=r)
        self.webhook_failing = Gauge("billgraph_webhook_endpoint_consecutive_failures",
                                     "Failed tries in a row of a webhook endpoint", ["endpoint"],
                                     registry=r)


SCRAPE = text("""
SELECT
  (SELECT extract(epoch FROM now() - min(marked_at)) FROM metrics_stale_marks) AS lag,
  (SELECT count(DISTINCT s.account_id) FROM metrics_stale_marks s
     JOIN accounts a ON a.tenant_id = s.tenant_id AND a.id = s.account_id
     WHERE a.partner_account) AS stale,
  (SELECT count(*) FROM jobs WHERE status = 'PENDING') AS pending,
  (SELECT count(*) FROM jobs WHERE status = 'RUNNING') AS running,
  (SELECT extract(epoch FROM now() - d.created_at) FROM webhook_deliveries d
     JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id
     WHERE d.status = 'PENDING' AND e.enabled ORDER BY d.created_at LIMIT 1) AS webhook_oldest
""")


async def metrics_endpoint(state: AppState, metrics: Metrics, request: Request) -> Response:
    async with state.read() as conn:
        row = (await conn.execute(SCRAPE)).one()
        runs = (await conn.execute(text(
            "SELECT id, accounts_processed FROM bill_runs WHERE status = 'RUNNING'"))).all()
        failing = (await conn.execute(text(
            "SELECT id, consecutive_failures FROM webhook_endpoints "
            "WHERE consecutive_failures > 0"))).all()
    metrics.refresher_lag.set(float(row.lag or 0))
    metrics.stale_accounts.set(row.stale)
    metrics.jobs.labels("PENDING").set(row.pending)
    metrics.jobs.labels("RUNNING").set(row.running)
    metrics.bill_runs.clear()
    for run in runs:
        metrics.bill_runs.labels(str(run.id)).set(run.accounts_processed)
    metrics.webhook_oldest.set(float(row.webhook_oldest or 0))
    metrics.webhook_failing.clear()
    for endpoint in failing:
        metrics.webhook_failing.labels(str(endpoint.id)).set(endpoint.consecutive_failures)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def readiness(state: AppState, head: str | None, request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at the latest migration."""
    try:
        async with state.read() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception as error:
        return JSONResponse({"status": "unavailable", "database": "unreachable",
                             "error": type(error).__name__}, status_code=503)
    if current != head:
        return JSONResponse({"status": "unavailable", "database": "ok",
                             "migration": current, "expected": head}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "migration": current})


class Observation:
    """One GraphQL operation's log context, SQL statement count, and metrics (counted and
    timed when it closes). `observe` opens one for every operation graphql-core runs; the
    hot paths (billgraph/hot_paths.py) for the ones they answer themselves."""

    def __init__(self, metrics: Metrics, request_id: str, principal: Any) -> None:
        self.metrics = metrics
        self.started = time.perf_counter()
        self.sql_cell = [0]
        self.tokens: list[contextvars.Token[Any]] = [
            request_id_var.set(request_id),
            tenant_var.set(str(principal.tenant_id) if principal else "-"),
            sql_count_var.set(self.sql_cell)]

    def close(self, name: str, kind: str, error_codes: Iterable[str]) -> None:
        self.metrics.requests.labels(name, kind).inc()
        self.metrics.latency.labels(name, kind).observe(time.perf_counter() - self.started)
        for code in error_codes:
            self.metrics.errors.labels(code).inc()
        for token in reversed(self.tokens):
            token.var.reset(token)


def observe(metrics: Metrics, *, expose_sql_count: bool = False) -> type[SchemaExtension]:
    """Count operations, time them, and put the operation name in the log context."""

    class Observe(SchemaExtension):
        sql_cell: list[int] | None = None

        def get_results(self) -> dict[str, Any]:
            if expose_sql_count and self.sql_cell is not None:
                return {"sqlStatements": self.sql_cell[0]}
            return {}

        def on_operation(self) -> Iterator[None]:
            ctx = self.execution_context
            observation = Observation(metrics, getattr(ctx.context, "request_id", "-"),
                                      getattr(ctx.context, "principal", None))
            self.sql_cell = observation.sql_cell
            try:
                yield
            finally:
                try:
                    kind = ctx.operation_type.value
                except RuntimeError:
                    kind = "invalid"
                observation.close(ctx.operation_name or "anonymous", kind, [
                    str((error.extensions or {}).get("code", "UNKNOWN"))
                    for error in (ctx.result.errors if ctx.result else None) or []])

        def on_execute(self) -> Iterator[None]:
            token = operation_var.set(self.execution_context.operation_name or "anonymous")
            yield
            operation_var.reset(token)

    return Observe


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "request_id": request_id_var.get(), "tenant": tenant_var.get(),
            "operation": operation_var.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.tenant = tenant_var.get()
        record.operation = operation_var.get()
        return True


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(tenant)s %(operation)s] "
            "%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
