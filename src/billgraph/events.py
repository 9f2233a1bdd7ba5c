"""Events for GraphQL subscriptions: metricsUpdated and billRunProgress.

Publishing happens after commit, never inside a hot write transaction. The hub
fans events out to this process's subscribers; the cross-process transport
(LISTEN/NOTIFY) plugs in behind `publish`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    channel: str  # "metrics" or "bill_run"
    tenant_id: uuid.UUID
    object_id: uuid.UUID


@dataclass
class EventHub:
    _subscribers: set[tuple[asyncio.Queue[Event], str, uuid.UUID]] = field(default_factory=set)

    async def metrics_recomputed(self, tenant_id: uuid.UUID, account_ids: set[uuid.UUID]) -> None:
        for account_id in account_ids:
            await self.publish(Event("metrics", tenant_id, account_id))

    async def publish(self, event: Event) -> None:
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        for queue, channel, tenant_id in list(self._subscribers):
            if channel == event.channel and tenant_id == event.tenant_id:
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    log.warning("dropping an event for a slow subscriber")

    async def subscribe(self, channel: str, tenant_id: uuid.UUID) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)
        entry = (queue, channel, tenant_id)
        self._subscribers.add(entry)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(entry)

    def stats(self) -> dict[str, Any]:
        return {"subscribers": len(self._subscribers)}
