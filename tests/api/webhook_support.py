"""Webhook tests: a server with its workers (the delivery worker) and an endpoint helper."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tests.support import Client, LiveServer, start_server

FAST = {"run_workers": True, "worker_tick_seconds": 0.05, "webhook_retry_base_seconds": 0.05}
ENDPOINT = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input)
  { secret endpoint { id url eventTypes enabled disabledReason } } }"""
DELIVERIES = """query($filter: WebhookDeliveryFilter, $first: Int) {
  webhookDeliveries(first: $first, filter: $filter) { totalCount edges { node {
    id eventId eventType status attempts lastAttemptAt nextAttemptAt lastResponseStatus
    payload endpoint { id } } } } }"""


@contextlib.asynccontextmanager
async def hooked_server(database_url: str, **settings: Any) -> AsyncIterator[LiveServer]:
    """billgraph with its background workers, retries in fractions of a second."""
    async with start_server(database_url, **{**FAST, **settings}) as live:
        yield live


@contextlib.asynccontextmanager
async def tenant(server: LiveServer) -> AsyncIterator[Client]:
    async with server.new_tenant(f"tenant-{uuid.uuid4().hex[:8]}") as client:
        yield client


async def endpoint(client: Client, url: str, *types: str) -> tuple[str, str]:
    """A new endpoint for `types`: its id and secret."""
    data = (await client.gql(ENDPOINT, {"input": {"url": url, "eventTypes": list(types)}}))
    created = data["createWebhookEndpoint"]
    return created["endpoint"]["id"], created["secret"]


async def deliveries(client: Client, **filters: Any) -> list[dict[str, Any]]:
    data = await client.gql(DELIVERIES, {"filter": filters or None, "first": 500})
    return [e["node"] for e in data["webhookDeliveries"]["edges"]]


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30,
                what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)
