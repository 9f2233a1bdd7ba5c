"""A mutation whose database backend is terminated mid-request, then retried with the same
idempotency key: exactly one result.

The mutation is held at a known point (waiting for the account's metrics lock, which
the test holds), its backend is found in pg_stat_activity and terminated with
pg_terminate_backend. The transaction had not committed, so the server runs it again
on a new connection; either way, the client's retry with the same key returns the one
result, and the rows exist once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from billgraph.db.engine import make_engine
from tests.invariants import violations
from tests.support import Client, LiveServer, lock_waiters, start_server

pytestmark = pytest.mark.faults

ORDER = """mutation($input: CreateOrderInput!, $key: String) {
  createOrder(input: $input, idempotencyKey: $key) { id orderNumber
    subscriptions { subscription { subscriptionNumber } } } }"""
INVOICES = """mutation($inputs: [StandaloneInvoiceInput!]!, $key: String) {
  createStandaloneInvoices(inputs: $inputs, idempotencyKey: $key) {
    invoice { id invoiceNumber } errors { code message } } }"""


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[LiveServer]:
    # a long lock timeout: the mutation waits for the test's lock instead of retrying
    async with start_server(database_url, run_workers=False, lock_timeout_ms=30_000) as server:
        yield server


async def setup(client: Client) -> str:
    await client.gql('mutation { createProduct(input: {code: "SEAT", name: "Seat"}) { id } }')
    await client.gql('mutation { createPricePlan(input: {code: "PLAN", name: "Plan", charges: '
                     '[{productCode: "SEAT", chargeType: RECURRING, price: "10.00"}]}) { id } }')
    data = await client.gql('mutation { createAccount(input: {name: "Customer"}) { id } }')
    return str(data["createAccount"]["id"])


def order(account: str) -> dict[str, Any]:
    return {"input": {"accountId": account, "orderDate": "2026-01-01", "subscriptions": [{
        "actions": [{"type": "CREATE_SUBSCRIPTION", "subscriptionOwnerAccountId": account,
                     "billingTerms": {"pricePlan": {"code": "PLAN"},
                                      "agreementDate": "2026-01-01",
                                      "billingFrequency": "MONTHLY"},
                     "items": [{"productCode": "SEAT", "quantity": 3}]}]}]}}


def invoices(account: str) -> dict[str, Any]:
    return {"inputs": [{"accountId": account, "invoiceDate": "2026-01-31",
                        "lines": [{"description": f"line {n}", "unitPrice": "12.50"}]}
                       for n in range(3)]}


CASES = {
    "createOrder": (ORDER, order, ("orders", "subscriptions", "subscription_items")),
    "createStandaloneInvoices": (INVOICES, invoices, ("invoices", "invoice_lines")),
}


async def waiting_backend(engine: Any, database: str | None) -> int:
    """The pid of the server's backend that waits for a lock (the held mutation)."""
    for _ in range(200):
        async with engine.connect() as conn:
            pids = await lock_waiters(conn, "account_metrics")
        if pids:
            return pids[0]
        await asyncio.sleep(0.05)
    raise AssertionError("the mutation never waited for the metrics lock")


@pytest.mark.parametrize("operation", CASES)
async def test_terminated_backend_then_retry_gives_one_result(
        live: LiveServer, operation: str) -> None:
    query, variables_of, tables = CASES[operation]
    async with live.new_tenant("terminated") as client:
        account = await setup(client)
        variables = {**variables_of(account), "key": f"{operation}-once"}
        engine = make_engine(live.database_url, pool_size=3, max_overflow=0)
        try:
            database = make_url(live.database_url).database
            async with engine.connect() as holder:
                lock = await holder.begin()
                await holder.execute(text(
                    "SELECT 1 FROM account_metrics WHERE tenant_id = :t AND account_id = :a "
                    "FOR UPDATE"), {"t": client.tenant_id, "a": account})
                first = asyncio.create_task(client.post(query, variables))
                pid = await waiting_backend(engine, database)
                async with engine.connect() as killer:
                    assert (await killer.execute(text(
                        "SELECT pg_terminate_backend(CAST(:pid AS integer))"),
                                                 {"pid": pid})).scalar() is True
                await asyncio.sleep(0.2)
                await lock.rollback()
            first_body = (await first).json()
        finally:
            await engine.dispose()
        if first_body.get("errors"):  # allowed: a retryable failure, never a partial write
            assert first_body["errors"][0]["extensions"].get("retryable") is True, first_body
        retried = await client.gql(query, variables)
        again = await client.gql(query, variables)
        assert retried == again
        if not first_body.get("errors"):
            assert first_body["data"] == retried
        for table in tables:
            rows = await live.sql(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = :t",
                                  t=client.tenant_id)
            expected = 3 if table in ("invoices", "invoice_lines") else 1
            assert rows[0]["n"] == expected, (table, rows)
        keys = await live.sql("SELECT count(*) AS n FROM idempotency_keys WHERE tenant_id = :t",
                              t=client.tenant_id)
        assert keys[0]["n"] == 1
        metrics_engine = make_engine(live.database_url, pool_size=1, max_overflow=0)
        try:
            async with metrics_engine.connect() as conn:
                assert await violations(conn, client.tenant_id, include_stale=True) == []
        finally:
            await metrics_engine.dispose()
