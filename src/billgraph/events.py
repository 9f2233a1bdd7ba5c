"""Events for GraphQL subscriptions (metricsUpdated, billRunProgress), across processes.

Publishers (the metrics refresher, synchronous recomputes after their commit, bill
runs) hand events to `EventHub.publish`, which never touches a write transaction:
a background task sends them in batches with `pg_notify` on one connection of its
own. Every server process LISTENs on the same channel and fans what arrives out to
its own websocket subscribers, so a subscriber connected to one instance receives
what another instance produced. Without a database (`dsn=None`) events are only
delivered within the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

log = logging.getLogger(__name__)
CHANNEL = "billgraph_events"
MAX_PAYLOAD = 7900  # PostgreSQL's NOTIFY payload limit is 8000 bytes


@dataclass(frozen=True)
class Event:
    channel: str  # "metrics" or "bill_run"
    tenant_id: uuid.UUID
    object_id: uuid.UUID

    def encode(self) -> str:
        return f"{self.channel}|{self.tenant_id}|{self.object_id}"

    @classmethod
    def decode(cls, line: str) -> Event:
        channel, tenant, obj = line.split("|")
        return cls(channel, uuid.UUID(tenant), uuid.UUID(obj))


def batches(lines: list[str]) -> list[str]:
    """Join lines into NOTIFY payloads under the size limit."""
    out: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > MAX_PAYLOAD:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        out.append(current)
    return out


Publish = Callable[[Event], Awaitable[None]]
"""Publish an event once its transaction has committed (EventHub.publish)."""


@dataclass
class EventHub:
    dsn: str | None = None
    _subscribers: set[tuple[asyncio.Queue[Event], str, uuid.UUID]] = field(default_factory=set)
    _outbox: asyncio.Queue[Event] | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _listener: Any = None
    # set when a job is queued (in any process sharing the database): job runners waiting
    # for work wake at once instead of at their next tick
    jobs: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        if self.dsn is None:
            return
        self._outbox = asyncio.Queue()
        self._tasks = [asyncio.create_task(self._publish_loop()),
                       asyncio.create_task(self._listen_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def metrics_recomputed(self, tenant_id: uuid.UUID, account_ids: set[uuid.UUID]) -> None:
        for account_id in account_ids:
            await self.publish(Event("metrics", tenant_id, account_id))

    async def job_queued(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        """Call once the transaction that queued the job has committed."""
        await self.publish(Event("job", tenant_id, job_id))

    async def publish(self, event: Event) -> None:
        if self._outbox is None:
            self.deliver(event)
        else:
            self._outbox.put_nowait(event)

    def deliver(self, event: Event) -> None:
        if event.channel == "job":
            self.jobs.set()
            return
        for queue, channel, tenant_id in list(self._subscribers):
            if channel == event.channel and tenant_id == event.tenant_id:
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    log.warning("dropping an event for a slow subscriber")

    def subscribe(self, channel: str, tenant_id: uuid.UUID) -> EventStream:
        """Start receiving the tenant's events of `channel` now (not at the first read)."""
        return EventStream(self, channel, tenant_id)

    async def _publish_loop(self) -> None:
        assert self._outbox is not None and self.dsn is not None
        conn: asyncpg.Connection | None = None
        try:
            while True:
                events = [await self._outbox.get()]
                while not self._outbox.empty():
                    events.append(self._outbox.get_nowait())
                payloads = batches(sorted({e.encode() for e in events}))
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.dsn)
                    await conn.execute("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                                       CHANNEL, payloads)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    log.warning("could not publish %d event(s); delivering locally",
                                len(events), exc_info=True)
                    for event in events:
                        self.deliver(event)
                    conn = None
                    await asyncio.sleep(1)
        finally:
            if conn is not None and not conn.is_closed():
                await conn.close()

    async def _listen_loop(self) -> None:
        assert self.dsn is not None
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
            except (OSError, asyncpg.PostgresError):
                log.warning("event listener cannot connect; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                self._listener = conn
                while not lost.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 5)
            finally:
                self._listener = None
                with contextlib.suppress(Exception):
                    await conn.close()
            log.warning("event listener connection lost; reconnecting")

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        for line in payload.splitlines():
            try:
                event = Event.decode(line)
            except ValueError:
                log.warning("ignoring a malformed event %r", line)
                continue
            self.deliver(event)

    @property
    def listening(self) -> bool:
        return self._listener is not None


class EventStream:
    """One subscriber's queue, registered from creation until `aclose()`."""

    def __init__(self, hub: EventHub, channel: str, tenant_id: uuid.UUID) -> None:
        self.hub = hub
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)
        self.entry = (self.queue, channel, tenant_id)
        hub._subscribers.add(self.entry)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()

    async def aclose(self) -> None:
        self.hub._subscribers.discard(self.entry)
