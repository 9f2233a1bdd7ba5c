"""GraphQL subscriptions (graphql-transport-ws): metricsUpdated and billRunProgress."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator

import strawberry

from billgraph.context import Info
from billgraph.resolvers.bill_runs import fetch_bill_run
from billgraph.schema.accounts import Account, AccountMetrics, MetricsUpdate
from billgraph.schema.billing import BillRun
from billgraph.schema.common import parse_id
from billgraph.schema.enums import BillRunStatus
from billgraph.services import accounts, metrics
from billgraph.services.errors import NotFound

FINISHED = (BillRunStatus.COMPLETED, BillRunStatus.FAILED)


async def metrics_update(info: Info, account_id: uuid.UUID) -> MetricsUpdate | None:
    """Read the account and its metrics fresh (a websocket context lives long)."""
    tenant_id = info.context.tenant_id
    async with info.context.state.read() as conn:
        account = await accounts.find_account(conn, tenant_id, account_id=account_id)
        found = await metrics.load(conn, tenant_id, [account_id])
    if account is None or account_id not in found:
        return None
    info.context.reset_loaders()
    return MetricsUpdate(account=Account.from_row(account),
                         metrics=AccountMetrics.from_row(found[account_id]))


@strawberry.type
class EventSubscriptions:
    @strawberry.subscription(description=(
        "Pushed after every recompute of an account's metrics (the refresher's for "
        "partner accounts, the write's own for others). Omit accountId for all accounts."))
    async def metrics_updated(
        self, info: Info, account_id: strawberry.ID | None = None
    ) -> AsyncGenerator[MetricsUpdate, None]:
        tenant_id = info.context.tenant_id
        wanted = None
        if account_id is not None:
            wanted = parse_id(account_id, "account", "accountId")
            async with info.context.state.read() as conn:
                if await accounts.find_account(conn, tenant_id, account_id=wanted) is None:
                    raise NotFound("account", account_id, field="accountId")
        events = info.context.state.events.subscribe("metrics", tenant_id)
        try:
            async for event in events:
                if wanted is not None and event.object_id != wanted:
                    continue
                update = await metrics_update(info, event.object_id)
                if update is not None:
                    yield update
        finally:
            await events.aclose()

    @strawberry.subscription(description=(
        "A bill run as it progresses: its current state at once, then after each batch of "
        "invoice owners, until it is COMPLETED or FAILED."))
    async def bill_run_progress(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[BillRun, None]:
        tenant_id = info.context.tenant_id
        run_id = parse_id(id, "bill run")
        events = info.context.state.events.subscribe("bill_run", tenant_id)
        try:
            run = await fetch_bill_run(info, run_id)  # subscribed first: no event is missed
            yield run
            while run.status not in FINISHED:
                event = await anext(events)
                if event.object_id == run_id:
                    run = await fetch_bill_run(info, run_id)
                    yield run
        finally:
            await events.aclose()
