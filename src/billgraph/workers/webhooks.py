"""The webhook delivery worker: runs in `billgraph serve` and `billgraph worker`.

Each pass finds the tenants with due deliveries (a plain SELECT), then claims a
batch per tenant (`deliveries.claim`: SKIP LOCKED and a lease of
`webhook_lease_seconds`, so processes sharing the database never take the same
delivery) and sends the batch concurrently in a task of its own while the loop
claims more, up to `webhook_max_in_flight` sends at once.
A send is one POST with a 10 s deadline for the whole exchange, redirects not
followed, at most 1 KiB of the answer kept. A batch's results are settled in one
transaction. A send starts within the first third of its lease and ends (deadline)
within the second, or does not happen: the lease runs out and another try happens
later, never beside this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import RowMapping

from billgraph.observability import webhook_deliveries, webhook_endpoint_failures
from billgraph.services.webhooks import deliveries, signing
from billgraph.services.webhooks.deliveries import RETRIES, Result
from billgraph.services.webhooks.endpoints import signing_secrets
from billgraph.state import AppState

log = logging.getLogger(__name__)

SEND_TIMEOUT = 10.0  # seconds for the whole exchange (SPEC §14)
KEEP_BYTES = 1024
BATCH = 32
CRASH_TRIES = RETRIES + 3  # claimed this often without a result (its senders died): FAILED


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_client(max_in_flight: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=SEND_TIMEOUT, follow_redirects=False, trust_env=False,
        limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=32))


@dataclass(frozen=True)
class Lease:
    length: timedelta

    @classmethod
    def of(cls, state: AppState) -> Lease:
        return cls(timedelta(seconds=state.settings.webhook_lease_seconds))

    @property
    def start_by(self) -> float:
        """Seconds after the claim past which a claimed send is skipped."""
        return self.length.total_seconds() / 3

    @property
    def timeout(self) -> float:
        return min(SEND_TIMEOUT, self.length.total_seconds() / 3)


async def send(client: httpx.AsyncClient, row: RowMapping, timeout: float) -> Result:
    """POST one delivery, signed at this moment; what came back."""
    def result(status: int | None, body: str | None, error: str | None) -> Result:
        return Result(row["id"], row["endpoint_id"], row["retry_step"], status, body, error)

    if row["retry_step"] > CRASH_TRIES:
        return result(None, None, "gave up: the processes sending it stopped before a result")
    payload = signing.body(row["event_id"], row["event_type"], row["event_created_at"],
                           row["event_data"])
    now = utcnow()
    headers = signing.headers(signing_secrets(row, now), signing.event_key(row["event_id"]),
                              int(now.timestamp()), payload)
    try:
        async with asyncio.timeout(timeout):
            async with client.stream("POST", row["url"], content=payload.encode(),
                                     headers=headers) as response:
                kept = bytearray()
                async for chunk in response.aiter_raw():
                    kept += chunk
                    if len(kept) >= KEEP_BYTES:
                        break
        return result(response.status_code,
                      bytes(kept[:KEEP_BYTES]).decode("utf-8", "replace"), None)
    except TimeoutError:
        return result(None, None, f"no answer within {timeout:g} s")
    except httpx.HTTPError as error:
        return result(None, None, f"{type(error).__name__}: {error}"[:KEEP_BYTES])


async def run_batch(state: AppState, client: httpx.AsyncClient, tenant_id: uuid.UUID,
                    token: uuid.UUID, rows: list[RowMapping], claimed_at: float) -> None:
    lease = Lease.of(state)
    if time.monotonic() - claimed_at > lease.start_by:
        log.warning("skipping %d claimed webhook deliveries: their lease is nearly spent",
                    len(rows))
        return
    results = await asyncio.gather(*(send(client, row, lease.timeout) for row in rows))
    async with state.engine.begin() as conn:
        disabled = await deliveries.settle(conn, tenant_id, token, results, now=utcnow(),
                                           base=state.settings.webhook_retry_base_seconds)
    for r in results:
        outcome = "delivered" if r.delivered else "failed" if r.gave_up else "retrying"
        webhook_deliveries.labels(outcome).inc()
        if not r.delivered:
            webhook_endpoint_failures.labels(str(r.endpoint_id)).inc()
    for endpoint_id in disabled:
        log.warning("webhook endpoint %s disabled: its deliveries failed for 3 days",
                    endpoint_id)


def _finished(task: asyncio.Task[None], tasks: set[asyncio.Task[None]]) -> None:
    tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("a webhook delivery batch failed (its leases run out; it is sent again)",
                  exc_info=task.exception())


async def claim_some(state: AppState, client: httpx.AsyncClient, capacity: int,
                     tasks: set[asyncio.Task[None]]) -> int:
    """Claim up to `capacity` due deliveries, tenant by tenant; start their batches."""
    now = utcnow()
    async with state.read() as conn:
        tenants = await deliveries.tenants_due(conn, now)
    claimed = 0
    for tenant_id in tenants:
        if claimed >= capacity:
            break
        token = uuid.uuid4()
        claimed_at = time.monotonic()
        async with state.engine.begin() as conn:
            rows = await deliveries.claim(conn, tenant_id, now=now,
                                          lease=Lease.of(state).length, token=token,
                                          limit=min(BATCH, capacity - claimed))
        if rows:
            claimed += len(rows)
            task = asyncio.create_task(run_batch(state, client, tenant_id, token, rows,
                                                 claimed_at))
            task.size = len(rows)  # type: ignore[attr-defined]
            tasks.add(task)
            task.add_done_callback(lambda t: _finished(t, tasks))
    return claimed


async def webhook_deliverer(state: AppState, stopping: asyncio.Event) -> None:
    tasks: set[asyncio.Task[None]] = set()
    most = state.settings.webhook_max_in_flight
    async with make_client(most) as client:
        try:
            while not stopping.is_set():
                capacity = most - sum(getattr(t, "size", 0) for t in tasks)
                claimed = await claim_some(state, client, capacity, tasks) if capacity > 0 else 0
                if claimed and capacity - claimed > 0:
                    continue  # more may be due right away
                waits: list[asyncio.Task[object]] = [
                    asyncio.ensure_future(stopping.wait()), *tasks]
                await asyncio.wait(waits, timeout=state.settings.worker_tick_seconds,
                                             return_when=asyncio.FIRST_COMPLETED)
                waits[0].cancel()
        finally:
            for task in list(tasks):
                task.cancel()
            for task in list(tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

