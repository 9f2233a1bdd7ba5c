"""The metrics refresher: recomputes stale partner accounts on the tenant's interval.

Each tick it lists the due accounts (stale, and last computed at least one tenant
interval ago; a stale non-partner account at once) and refreshes each in its own
short transaction. Several processes share the work: the claim is a row lock with
SKIP LOCKED that re-checks the interval, so an account is never refreshed twice at
once nor twice in one interval. A process killed mid-refresh rolls back: the stale
marks stay and another tick picks the account up. Each refresh publishes
`metricsUpdated` after its commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from billgraph.events import Event
from billgraph.services import idempotency, metrics
from billgraph.state import AppState

log = logging.getLogger(__name__)
HOUSEKEEPING_EVERY = 300  # ticks


async def refresh_due(state: AppState) -> int:
    """One pass over the due accounts; returns how many were refreshed."""
    async with state.engine.connect() as conn:
        due = await metrics.due_accounts(conn)
    refreshed = 0
    for tenant_id, account_id in due:
        async with state.engine.begin() as conn:
            row = await metrics.refresh_if_due(conn, tenant_id, account_id)
        if row is not None:
            refreshed += 1
            await state.events.publish(Event("metrics", tenant_id, account_id))
    return refreshed


async def metrics_refresher(state: AppState, stopping: asyncio.Event) -> None:
    tick = 0
    while not stopping.is_set():
        refreshed = await refresh_due(state)
        if refreshed:
            log.info("refreshed the metrics of %d account(s)", refreshed)
        tick += 1
        if tick % HOUSEKEEPING_EVERY == 0:
            async with state.engine.begin() as conn:
                await idempotency.purge_expired(conn)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), state.settings.worker_tick_seconds)
