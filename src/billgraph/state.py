"""The process-wide resources, wired in one place (bootstrap) and shared by requests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billgraph.config import Settings
from billgraph.db import tx
from billgraph.db.tx import Writer
from billgraph.events import EventHub
from billgraph.services import tenants
from billgraph.services.tenants import Principal

T = TypeVar("T")
KEY_CACHE_SECONDS = 10.0


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    events: EventHub
    _keys: dict[str, tuple[float, Principal | None]] = field(default_factory=dict)
    _reader: AsyncEngine | None = field(default=None, init=False, repr=False)

    async def write(self, tenant_id: uuid.UUID, work: Callable[[Writer], Awaitable[T]]) -> T:
        """Run `work` in one write transaction (retried on lock competition)."""
        return await tx.write(
            self.engine, tenant_id, work,
            lock_timeout_ms=self.settings.lock_timeout_ms,
            retries=self.settings.lock_retries,
            after_commit=self.events.metrics_recomputed,
        )

    def read(self) -> AsyncConnection:
        """A short connection for one resolver or loader (never shared across fields).

        In autocommit: each statement is its own transaction — the same snapshot per
        statement as READ COMMITTED gives inside one — without the BEGIN and ROLLBACK
        round trips a transaction around the reads would cost."""
        return self.reader.connect()

    @property
    def reader(self) -> AsyncEngine:
        """The engine's pool, handing out autocommit connections."""
        reader = self._reader
        if reader is None:
            reader = self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        return reader

    async def authenticate(self, token: str) -> Principal | None:
        """The key's tenant and scope; cached for a few seconds (keys are looked up by hash)."""
        now = time.monotonic()
        cached = self._keys.get(token)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.read() as conn:
            principal = await tenants.authenticate(conn, token)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[token] = (now + KEY_CACHE_SECONDS, principal)
        return principal
