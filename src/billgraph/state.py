"""The process-wide resources, wired in one place (bootstrap) and shared by requests."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billgraph.config import Settings
from billgraph.db import tx
from billgraph.db.tx import Writer
from billgraph.events import EventHub
from billgraph.ratelimit import RateLimiter
from billgraph.services import api_keys, audit, tenants
from billgraph.services.tenants import Principal

T = TypeVar("T")
# A revoked key is refused by every instance within this time (SPEC §16 asks for 5 s).
KEY_CACHE_SECONDS = 2.0


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    events: EventHub
    _keys: dict[str, tuple[float, Principal | None]] = field(default_factory=dict)
    _reader: AsyncEngine | None = field(default=None, init=False, repr=False)
    # key id -> (tenant, last use), written by flush_key_usage()
    _used: dict[uuid.UUID, tuple[uuid.UUID, datetime]] = field(default_factory=dict)
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.rate_limit_per_second,
                                   self.settings.rate_limit_burst)

    async def write(self, tenant_id: uuid.UUID, work: Callable[[Writer], Awaitable[T]]) -> T:
        """Run `work` in one write transaction (retried on lock competition).

        Inside a mutation (an audit record is current) the transaction also appends the
        mutation's audit event, after `work` and before COMMIT (services/audit.py)."""
        record = audit.CURRENT.get()
        if record is None or record.written or not self.settings.audit:
            return await self._write(tenant_id, work)

        async def audited(writer: Writer) -> T:
            result = await work(writer)
            audit.defer_success(writer, record, datetime.now(UTC))  # sent before COMMIT
            return result

        result = await self._write(tenant_id, audited)
        record.written = True
        return result

    async def _write(self, tenant_id: uuid.UUID, work: Callable[[Writer], Awaitable[T]]) -> T:
        return await tx.write(
            self.engine, tenant_id, work,
            lock_timeout_ms=self.settings.lock_timeout_ms,
            retries=self.settings.lock_retries,
            after_commit=self.events.metrics_recomputed,
        )

    def read_only(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """One READ ONLY transaction, rolled back (db/tx.read_only): for previews."""
        return tx.read_only(self.engine)

    def rolled_back(self, tenant_id: uuid.UUID) -> contextlib.AbstractAsyncContextManager[Writer]:
        """A write transaction that is always rolled back (db/tx.rolled_back): for an
        order preview. Not audited, no events."""
        return tx.rolled_back(self.engine, tenant_id,
                              lock_timeout_ms=self.settings.lock_timeout_ms)

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
        """The key's tenant and scope; cached for KEY_CACHE_SECONDS (looked up by hash).

        Expiry is checked on every request, revocation at each lookup; the key's use is
        noted in memory for lastUsedAt (flush_key_usage writes it)."""
        now = time.monotonic()
        cached = self._keys.get(token)
        if cached is not None and cached[0] > now:
            principal = cached[1]
        else:
            async with self.read() as conn:
                principal = await tenants.authenticate(conn, token)
            if len(self._keys) > 10_000:
                self._keys.clear()
            self._keys[token] = (now + KEY_CACHE_SECONDS, principal)
        if principal is None:
            return None
        wall = datetime.now(UTC)
        if principal.expired(wall):
            return None
        if principal.key_id is not None:
            self._used[principal.key_id] = (principal.tenant_id, wall)
        return principal

    def forget_key(self, key_id: uuid.UUID) -> None:
        """Drop a key from this process's cache at once (it was just revoked here)."""
        self._keys = {t: c for t, c in self._keys.items()
                      if c[1] is None or c[1].key_id != key_id}

    async def flush_key_usage(self) -> None:
        """Write the lastUsedAt of the keys used since the last flush (one statement)."""
        used, self._used = self._used, {}
        if not used:
            return
        try:
            async with self.engine.begin() as conn:
                await api_keys.record_usage(conn, used)
        except Exception:
            for key_id, (tenant_id, at) in used.items():  # kept for the next try
                self._used.setdefault(key_id, (tenant_id, at))
            raise
