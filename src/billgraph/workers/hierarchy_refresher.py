"""The roll-up refresher: recomputes stale hierarchies at most once per tenant interval.

A daemon of its own (beside the metrics refresher, which it does not touch). Each tick:
the tenants that have hierarchies (a plain SELECT), then per tenant the due roots
(services.rollups.DUE_ROOTS), and per root two short transactions — `settle()` (waits
for member recomputes in flight, reads the clock, commits at once so members' writers
never wait on the roll-up itself) and the claim + one-statement roll-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from billgraph.db.tx import RETRYABLE_SQLSTATES, sqlstate
from billgraph.services import rollups
from billgraph.state import AppState

log = logging.getLogger(__name__)
SETTLE_LOCK_TIMEOUT_MS = 2000


async def refresh_due_hierarchies(state: AppState) -> int:
    """One pass over the due hierarchies; returns how many were rolled up."""
    async with state.engine.connect() as conn:
        tenant_ids = await rollups.tenants_with_hierarchies(conn)
    refreshed = 0
    for tenant_id in tenant_ids:
        async with state.engine.connect() as conn:
            roots = await rollups.due_roots(conn, tenant_id)
        for root_id in roots:
            try:
                async with state.engine.begin() as conn:
                    await conn.execute(text(f"SET LOCAL lock_timeout = {SETTLE_LOCK_TIMEOUT_MS}"))
                    covered_at = await rollups.settle(conn, tenant_id, root_id)
            except DBAPIError as error:
                if sqlstate(error) not in RETRYABLE_SQLSTATES:
                    raise
                log.info("roll-up of %s postponed: members busy (%s)", root_id, sqlstate(error))
                continue  # still due: the next tick tries again
            async with state.engine.begin() as conn:
                if await rollups.refresh_if_due(conn, tenant_id, root_id, covered_at):
                    refreshed += 1
    return refreshed


async def hierarchy_refresher(state: AppState, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        refreshed = await refresh_due_hierarchies(state)
        if refreshed:
            log.info("rolled up %d hierarch(y/ies)", refreshed)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), state.settings.worker_tick_seconds)

