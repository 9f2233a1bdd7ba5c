"""The small daemons of SPEC §16: lastUsedAt flushes and the audit retention purge.

- `key_usage_flusher` runs in every serving process (started by the app's lifespan,
  workers or not: the uses it writes are that process's, kept in AppState memory).
- `audit_retention` runs with the other background workers (bootstrap.daemons); it finds the
  tenants with events past the retention (a plain SELECT), then deletes per tenant
  in batches. Several processes purging at once only delete the same rows twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from billgraph.services import audit
from billgraph.state import AppState

log = logging.getLogger(__name__)
RETENTION_CHECK_SECONDS = 3600.0


async def key_usage_flusher(state: AppState, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), state.settings.key_usage_flush_seconds)
        try:
            await state.flush_key_usage()
        except Exception:
            log.warning("cannot write the keys' lastUsedAt; retrying later", exc_info=True)


async def purge_audit_events(state: AppState, now: datetime) -> int:
    before = now - timedelta(days=state.settings.audit_retention_days)
    purged = 0
    async with state.read() as conn:
        due = await audit.tenants_with_expired(conn, before)
    for tenant_id in due:
        while True:
            async with state.engine.begin() as conn:
                deleted = await audit.purge_expired(conn, tenant_id, before)
            purged += deleted
            if deleted == 0:
                break
    return purged


async def audit_retention(state: AppState, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        purged = await purge_audit_events(state, datetime.now(UTC))
        if purged:
            log.info("purged %d audit event(s) past the retention", purged)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), RETENTION_CHECK_SECONDS)

