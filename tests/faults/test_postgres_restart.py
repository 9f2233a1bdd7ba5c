"""PostgreSQL stopped and started again under a running server: /readyz says 503 while it
is down, and the server recovers by itself — ready again, queries answer, and the event
listener reconnects (metricsUpdated arrives again).

The test cluster is shared by the whole suite, so this test starts a PostgreSQL of its
own in tmp_path and restarts that one (with --citus: a coordinator and a worker of its
own, and restarts the coordinator).
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text

from billgraph.db.bootstrap import ensure_database
from billgraph.db.engine import make_engine
from billgraph.db.migrate import upgrade
from tests.conftest import citus_mode
from tests.support import LiveServer, Subscriber, start_server

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
    from billgraph.db.embedded import EmbeddedPostgres

pytestmark = pytest.mark.faults

UPDATES = "subscription($id: ID) { metricsUpdated(accountId: $id) { account { id } } }"
REFRESH = "mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }"


@dataclass
class Restartable:
    node: EmbeddedPostgres  # the server to stop and start: PostgreSQL, or Citus' coordinator
    url: str


@pytest.fixture
def postgres(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Restartable]:
    if citus_mode(request.config):  # a small cluster of its own: coordinator + 1 worker
        from billgraph.db.embedded_citus import CitusCluster

        cluster = CitusCluster(tmp_path / "citus", workers=1, shard_count=2)
        cluster.start()
        try:
            asyncio.run(cluster.create_database("restarted"))
            yield Restartable(cluster.nodes[0], cluster.url("restarted"))
        finally:
            cluster.stop()
        return
    pg = EmbeddedPostgres(tmp_path / "pg", fast=True)
    pg.start()
    try:
        asyncio.run(ensure_database(pg.url("postgres"), "restarted"))
        yield Restartable(pg, pg.url("restarted"))
    finally:
        pg.stop()


@pytest.fixture
async def live(postgres: Restartable) -> AsyncIterator[LiveServer]:
    await asyncio.to_thread(upgrade, postgres.url)
    async with start_server(postgres.url, run_workers=True, worker_tick_seconds=0.1) as server:
        yield server


async def readiness(server: LiveServer) -> int:
    return (await server.http.get("/readyz")).status_code


async def until(check: object, timeout: float = 60) -> None:
    for _ in range(int(timeout / 0.1)):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def listening(server: LiveServer) -> bool:
    engine = make_engine(server.database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return bool((await conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' "
                "AND datname = current_database()"))).scalar())
    except Exception:
        return False
    finally:
        await engine.dispose()


async def test_server_recovers_from_a_postgres_restart(
        postgres: Restartable, live: LiveServer) -> None:
    async with live.new_tenant("restart") as client:
        unseen_key = await live.create_key(client.tenant_id, "read")  # not cached by the server
        account = (await client.gql('mutation { createAccount(input: {name: "Watched"}) '
                                    "{ id } }"))["createAccount"]["id"]
        assert await readiness(live) == 200
        await until(lambda: listening(live))
        async with Subscriber(live.url, client.key) as sub:
            await sub.ack()
            await sub.subscribe(UPDATES, {"id": account})
            await asyncio.sleep(0.2)
            await client.gql(REFRESH, {"id": account})
            assert (await sub.next())["metricsUpdated"]["account"]["id"] == account

            await asyncio.to_thread(postgres.node.stop)  # fast shutdown: every session ends
            async def down() -> bool:
                return await readiness(live) == 503
            await until(down, timeout=20)
            body = (await live.http.get("/readyz")).json()
            assert body["status"] == "unavailable", body
            failed = await client.post("{ viewer { id } }")  # (its key is cached)
            assert failed.status_code == 200, failed.text
            assert failed.json()["errors"][0]["extensions"]["code"] == "INTERNAL"
            refused = await client.post("{ viewer { id } }", key=unseen_key)
            assert refused.status_code == 503, refused.text  # not a bare 500
            assert refused.json()["errors"][0]["extensions"]["retryable"] is True
            await asyncio.to_thread(postgres.node.start)

            async def up() -> bool:
                return await readiness(live) == 200
            await until(up, timeout=60)
            assert (await client.gql("{ viewer { name } }"))["viewer"]["name"] == "restart"
            await until(lambda: listening(live), timeout=30)  # the listener reconnected
            await client.gql(REFRESH, {"id": account})
            assert (await sub.next(timeout=20))["metricsUpdated"]["account"]["id"] == account
        # writes work again too
        await client.gql('mutation { createAccount(input: {name: "After"}) { id } }')
