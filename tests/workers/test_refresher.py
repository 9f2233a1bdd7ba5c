"""The metrics refresher: interval rule, sharing work between processes, crash safety."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.support import Client, LiveServer, Subscriber, start_server

METRICS = ("query($id: ID!) { metrics(accountId: $id) "
           "{ balance totalInvoiceBalance lastInvoiceDate stale lastMetricsUpdate } }")
ALL_UPDATES = "subscription { metricsUpdated { account { id } metrics { balance stale } } }"


async def partner_account(client: Client, name: str = "Reseller") -> str:
    data = await client.gql('mutation($n: String!) { createAccount(input: {name: $n, '
                            'partnerAccount: true}) { id } }', {"n": name})
    return str(data["createAccount"]["id"])


async def write_invoice_behind_the_api(server: LiveServer, tenant_id: str, account_id: str,
                                       amount: str) -> None:
    """What a partner-account write leaves: a posted document and a stale mark."""
    await server.sql(
        "INSERT INTO invoices (tenant_id, id, invoice_number, account_id, invoice_date, due_date,"
        " status, amount, balance, currency) VALUES (:t, gen_random_uuid(), "
        "'X' || gen_random_uuid(), :a, DATE '2026-11-01', DATE '2026-11-30', 'POSTED', "
        "CAST(:amt AS numeric), CAST(:amt AS numeric), 'USD')",
        t=tenant_id, a=account_id, amt=amount)
    await server.sql("INSERT INTO metrics_stale_marks (tenant_id, id, account_id) "
                     "VALUES (:t, gen_random_uuid(), :a)", t=tenant_id, a=account_id)


async def set_interval(client: Client, seconds: int) -> None:
    await client.gql("mutation($s: Int!) { updateTenantSettings(input: "
                     "{metricsRefreshIntervalSeconds: $s}) { id } }", {"s": seconds})


async def test_interval_rule(database_url: str) -> None:
    """Refreshed no later than interval + tick after becoming stale, at most once per interval."""
    async with start_server(database_url, run_workers=True, worker_tick_seconds=0.2) as server:
        async with server.new_tenant("interval") as client:
            await set_interval(client, 3)
            account = await partner_account(client)
            created = (await client.gql(METRICS, {"id": account}))["metrics"]
            async with Subscriber(server.url, client.key) as sub:
                await sub.ack()
                await sub.subscribe(ALL_UPDATES)
                await asyncio.sleep(0.2)
                became_stale = time.monotonic()
                await write_invoice_behind_the_api(server, client.tenant_id, account, "10.00")
                stale = (await client.gql(METRICS, {"id": account}))["metrics"]
                assert stale["stale"] is True
                assert stale["balance"] == "0.00"
                assert stale["lastMetricsUpdate"] == created["lastMetricsUpdate"]
                event = (await sub.next(timeout=10))["metricsUpdated"]
                waited = time.monotonic() - became_stale
                assert event["metrics"] == {"balance": "10.00", "stale": False}
                assert waited <= 3 + 0.2 + 0.5, waited  # interval + tick (+ slack for CI)
                # stale again right away: not refreshed again within the interval
                again = time.monotonic()
                await write_invoice_behind_the_api(server, client.tenant_id, account, "5.00")
                event = (await sub.next(timeout=10))["metricsUpdated"]
                gap = time.monotonic() - again
                assert event["metrics"]["balance"] == "15.00"
                assert 1.5 <= gap <= 3.7, gap
            fresh = (await client.gql(METRICS, {"id": account}))["metrics"]
            assert fresh["stale"] is False
            assert fresh["totalInvoiceBalance"] == "15.00"
            assert fresh["lastInvoiceDate"] == "2026-11-01"


async def test_refresh_metrics_forces_and_clears_stale(server: LiveServer, client: Client) -> None:
    account = await partner_account(client)
    await write_invoice_behind_the_api(server, client.tenant_id, account, "7.50")
    assert (await client.gql(METRICS, {"id": account}))["metrics"]["stale"] is True
    forced = await client.gql("mutation($id: ID!) { refreshMetrics(accountId: $id) "
                              "{ balance stale } }", {"id": account})
    assert forced["refreshMetrics"] == {"balance": "7.50", "stale": False}


async def test_a_killed_refresh_loses_nothing(server: LiveServer, client: Client) -> None:
    """A refresh whose transaction dies (here: its backend is terminated) rolls back whole:
    the marks stay, the account stays stale, and the next refresh is exact."""
    account = await partner_account(client)
    await set_interval(client, 1)
    await server.sql("UPDATE account_metrics SET last_metrics_update = now() - interval '1 hour' "
                     "WHERE tenant_id = :t", t=client.tenant_id)
    await write_invoice_behind_the_api(server, client.tenant_id, account, "3.00")
    # hold the metrics row so the refresher's claim blocks behind us... then kill it
    from billgraph.db.engine import make_engine
    from billgraph.services import metrics as metrics_service

    engine = make_engine(server.database_url, pool_size=2, max_overflow=0)
    try:
        async with engine.connect() as conn:
            tx = await conn.begin()
            pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
            claimed = await metrics_service.refresh_if_due(conn, client.tenant_id, account)  # type: ignore[arg-type]
            assert claimed is not None  # recomputed inside the transaction, not committed
            await server.sql("SELECT pg_terminate_backend(CAST(:pid AS integer))", pid=pid)
            try:
                await tx.commit()
            except Exception:
                pass
            else:
                raise AssertionError("the terminated transaction committed")
    finally:
        await engine.dispose()
    after_crash = (await client.gql(METRICS, {"id": account}))["metrics"]
    assert after_crash["stale"] is True and after_crash["balance"] == "0.00"
    async with start_server(server.database_url, run_workers=True,
                            worker_tick_seconds=0.1) as worker:
        for _ in range(100):
            rows = await worker.sql(
                "SELECT count(*) AS n FROM metrics_stale_marks WHERE tenant_id = :t",
                t=client.tenant_id)
            if rows[0]["n"] == 0:
                break
            await asyncio.sleep(0.1)
    final = (await client.gql(METRICS, {"id": account}))["metrics"]
    assert final["stale"] is False and final["balance"] == "3.00"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_process(database_url: str, *, workers: bool) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, BILLGRAPH_WORKER_TICK_SECONDS="0.2",
               BILLGRAPH_LOG_LEVEL="WARNING")
    args = [sys.executable, "-m", "billgraph.cli", "serve", "--port", str(port)]
    if not workers:
        args.append("--no-workers")
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            log.seek(0)
            raise AssertionError(f"server did not start:\n{log.read()}")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def test_two_processes_share_the_refresher_and_the_events(database_url: str) -> None:
    """A subscriber on instance A gets metricsUpdated for refreshes done by instance B or C;
    with two refreshing instances, each stale account is refreshed by exactly one."""
    async with start_server(database_url, run_workers=False) as setup:
        tenant_id, key = await setup.create_tenant("two-processes")
        client = Client(setup.http, key, tenant_id)
        await set_interval(client, 600)
        accounts = [await partner_account(client, f"p{i}") for i in range(40)]
        await setup.sql(
            "UPDATE account_metrics SET last_metrics_update = now() - interval '1 hour' "
            "WHERE tenant_id = :t", t=tenant_id)
    with serve_process(database_url, workers=False) as url_a:
        async with Subscriber(url_a, key) as sub:
            await sub.ack()
            await sub.subscribe(ALL_UPDATES)
            await asyncio.sleep(0.3)
            async with start_server(database_url, run_workers=False) as writer:
                for account in accounts:
                    await write_invoice_behind_the_api(writer, tenant_id, account, "1.00")
            with serve_process(database_url, workers=True), \
                    serve_process(database_url, workers=True):
                await each_refreshed_once(sub, accounts)


async def each_refreshed_once(sub: Subscriber, accounts: list[str]) -> None:
    """`sub` sees one metricsUpdated (balance 1.00) per account, and then no more."""
    received: Counter[str] = Counter()
    while sum(received.values()) < len(accounts):
        event = (await sub.next(timeout=20))["metricsUpdated"]
        assert event["metrics"] == {"balance": "1.00", "stale": False}
        received[event["account"]["id"]] += 1
    await sub.nothing_for(2.0)
    assert set(received) == set(accounts)
    assert set(received.values()) == {1}
