"""Webhook deliveries against failures: the receiver down then up, the server killed with
SIGKILL while deliveries are in flight, two servers sharing one database.

Servers run as `billgraph serve` processes of their own (tests/processes.py) on the
test's database; the receiver (tests/webhook_receiver.py) runs in the test and checks
every signature. At least once: every event arrives, each webhook-id at least once;
never two sends of one delivery at the same time (the receiver records overlaps).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from bench._database import new_tenant
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from billgraph.db.engine import make_engine
from billgraph.services.webhooks import EVENT_TYPES
from tests import processes
from tests.api.webhook_support import ENDPOINT, until
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.faults

SETTINGS = {"worker_tick_seconds": 0.05, "webhook_retry_base_seconds": 0.1,
            "webhook_lease_seconds": 3}
ACCOUNT = "mutation($n: String!) { createAccount(input: {name: $n, partnerAccount: true}) { id } }"
DEBIT_MEMO = """mutation($a: ID!) { createDebitMemo(input: {accountId: $a, amount: "1.00"})
  { id } }"""


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


async def statuses(engine: AsyncEngine, tenant_id: uuid.UUID) -> Counter[str]:
    """The tenant's deliveries by status (on Citus the database is shared across tests)."""
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT status, count(*) AS n FROM webhook_deliveries "
                                       "WHERE tenant_id = :t GROUP BY status"), {"t": tenant_id})
        return Counter({r.status: r.n for r in rows})


async def started(database_url: str, **settings: Any) -> processes.ServerProcess:
    return await asyncio.to_thread(processes.start, database_url, workers=True,
                                   settings={**SETTINGS, **settings})


async def stopped(server: processes.ServerProcess) -> None:
    await asyncio.to_thread(server.stop)
    server.log_file.close()


async def gql(server: processes.ServerProcess, key: str, query: str,
              variables: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        body = (await http.post("/graphql", json={"query": query, "variables": variables or {}},
                                headers={"Authorization": f"Bearer {key}"})).json()
    assert not body.get("errors"), (body, server.log()[-3000:])
    return body["data"]


async def setup(server: processes.ServerProcess, database_url: str,
                receiver: Receiver) -> tuple[uuid.UUID, str, str]:
    """A tenant, an endpoint for every event type on the receiver, and a partner account."""
    tenant_id, key = await new_tenant(database_url, f"hooks-{uuid.uuid4().hex[:8]}")
    created = (await gql(server, key, ENDPOINT, {"input": {
        "url": receiver.url, "eventTypes": list(EVENT_TYPES)}}))["createWebhookEndpoint"]
    receiver.secrets.append(created["secret"])
    account = (await gql(server, key, ACCOUNT, {"n": "Reseller"}))["createAccount"]["id"]
    return tenant_id, key, account


async def memos(server: processes.ServerProcess, key: str, account: str, n: int) -> None:
    """n DEBIT_MEMO_POSTED events (a partner account: no metrics event from the write)."""
    await asyncio.gather(*(gql(server, key, DEBIT_MEMO, {"a": account}) for _ in range(n)))


def check(receiver: Receiver, expected: int) -> None:
    assert len(receiver.ids()) == expected
    assert all(r.valid for r in receiver.received), "a signature did not verify"
    assert receiver.overlaps == [], f"sent twice at once: {receiver.overlaps}"


async def test_receiver_down_then_up_every_event_arrives(database_url: str,
                                                         engine: AsyncEngine) -> None:
    receiver = Receiver()
    server = await started(database_url)
    try:
        await receiver.start()
        tenant_id, key, account = await setup(server, database_url, receiver)
        await receiver.stop()  # down: connections refused
        await memos(server, key, account, 20)

        async def retried() -> bool:
            async with engine.connect() as conn:
                return bool((await conn.execute(text(
                    "SELECT count(*) FROM webhook_deliveries WHERE tenant_id = :t "
                    "AND attempts >= 3 AND status = 'PENDING'"),
                    {"t": tenant_id})).scalar_one() == 20)

        await until(retried, what="three failed tries of every delivery")
        receiver.status = 503  # up, but failing
        await asyncio.sleep(0.5)
        receiver_started = receiver.start()
        await receiver_started
        await asyncio.sleep(1)
        receiver.status = 200  # working
        await receiver.wait_for(20, timeout=60)
        await until(lambda: _all_delivered(engine, tenant_id, 20), what="20 DELIVERED")
        check(receiver, 20)
        assert {r.event["type"] for r in receiver.received} == {"DEBIT_MEMO_POSTED"}
    finally:
        await receiver.stop()
        await stopped(server)


async def _all_delivered(engine: AsyncEngine, tenant_id: uuid.UUID, n: int) -> bool:
    return (await statuses(engine, tenant_id)) == Counter({"DELIVERED": n})


async def test_kill_9_mid_delivery_then_restart_loses_nothing(database_url: str,
                                                              engine: AsyncEngine) -> None:
    receiver = Receiver(delay=0.4)  # slow: deliveries are in flight when the kill comes
    server = await started(database_url)
    try:
        await receiver.start()
        tenant_id, key, account = await setup(server, database_url, receiver)
        await memos(server, key, account, 30)
        await until(lambda: _in_flight(receiver), what="deliveries in flight")
        await asyncio.to_thread(server.kill)
        server.log_file.close()
        in_flight = sum(receiver.in_flight.values())
        assert in_flight > 0
        server = await started(database_url)
        await receiver.wait_for(30, timeout=90)
        await until(lambda: _all_delivered(engine, tenant_id, 30), timeout=60,
                    what="30 DELIVERED")
        check(receiver, 30)
    finally:
        await receiver.stop()
        await stopped(server)


async def _in_flight(receiver: Receiver) -> bool:
    return sum(receiver.in_flight.values()) > 0


DELIVERED = re.compile(r'billgraph_webhook_deliveries_total\{outcome="delivered"\} (\S+)')


async def test_two_servers_share_the_deliveries_never_sending_one_twice_at_once(
        database_url: str, engine: AsyncEngine) -> None:
    receiver = Receiver(delay=0.2)
    # at most 8 sends in flight each: a server cannot claim all 80 at its first pass (it
    # did once, under CI load), so both take part and must never overlap
    first = await started(database_url, webhook_lease_seconds=60, webhook_max_in_flight=8)
    second = await started(database_url, webhook_lease_seconds=60, webhook_max_in_flight=8)
    try:
        await receiver.start()
        tenant_id, key, account = await setup(first, database_url, receiver)
        await asyncio.gather(memos(first, key, account, 40), memos(second, key, account, 40))
        await receiver.wait_for(80, timeout=90)
        await until(lambda: _all_delivered(engine, tenant_id, 80), timeout=60,
                    what="80 DELIVERED")
        check(receiver, 80)
        # nothing failed, so nothing was sent twice at all
        assert len(receiver.received) == 80
        sent = []
        for server in (first, second):
            async with httpx.AsyncClient() as http:
                metrics = (await http.get(f"{server.url}/metrics")).text
            found = DELIVERED.search(metrics)
            sent.append(float(found.group(1)) if found else 0.0)
        assert sum(sent) == 80 and min(sent) > 0, f"one server sent everything: {sent}"
    finally:
        await receiver.stop()
        for server in (first, second):
            await stopped(server)
