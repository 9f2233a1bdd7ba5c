"""`billgraph serve --workers N`: N processes on one port, one embedded PostgreSQL,
pools that fit max_connections, background work divided, Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import Counter
from pathlib import Path

import httpx
import pytest

from billgraph.config import Settings
from billgraph.serving import PoolSizeError, pool_per_process
from tests.processes import serve
from tests.support import Client, Subscriber, start_server
from tests.test_cli import BILLGRAPH
from tests.workers.test_refresher import (
    ALL_UPDATES,
    each_refreshed_once,
    partner_account,
    set_interval,
    write_invoice_behind_the_api,
)


async def pids_answering(url: str, requests: int = 60) -> Counter[int]:
    """Which processes answer /healthz, over fresh connections sent 20 at a time."""
    answered: Counter[int] = Counter()

    async def one() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            response = await http.get("/healthz")
            assert response.status_code == 200
            answered[int(response.headers["X-Billgraph-Pid"])] += 1

    for _ in range(requests // 20):
        await asyncio.gather(*(one() for _ in range(20)))
    return answered


def running(pid: int) -> bool:
    """Alive and not a zombie (exited, not yet reaped by whoever adopted it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


async def test_two_processes_serve_one_port_on_one_embedded_postgres(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir=data_dir, settings={"workers": 2}, timeout=300) as server:
        key = server.key()
        assert key and "Serving with 2 processes" in server.log()
        answered: Counter[int] = Counter()
        # the kernel hands each connection to one process (the second may still be
        # starting when the first answers: a loaded machine takes minutes)
        deadline = asyncio.get_running_loop().time() + 240
        while len(answered) < 2 and asyncio.get_running_loop().time() < deadline:
            answered += await pids_answering(server.url, 20)
            await asyncio.sleep(0.5)
        assert len(answered) == 2, answered
        assert all(parent_of(pid) == server.pid for pid in answered)  # uvicorn's children
        postmaster = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            for _ in range(10):
                response = await http.post("/graphql", json={"query": "{ viewer { name } }"},
                                           headers={"Authorization": f"Bearer {key}"})
                assert response.json() == {"data": {"viewer": {"name": "default"}}}
        server.stop()  # SIGINT, as Ctrl-C
        assert server.proc.returncode == 0, server.log()
        deadline = asyncio.get_running_loop().time() + 30
        while left := [pid for pid in [*answered, postmaster] if running(pid)]:
            assert asyncio.get_running_loop().time() < deadline, f"{left} still run"
            await asyncio.sleep(0.2)
        assert not (data_dir / "pgdata" / "postmaster.pid").exists()  # stopped cleanly


async def test_background_work_is_divided_between_the_processes(database_url: str) -> None:
    """Two refreshing processes of one server: each stale partner account is refreshed
    exactly once (the refresher claims accounts with SKIP LOCKED), and a subscriber on
    the shared port sees every refresh whichever process did it."""
    async with start_server(database_url, run_workers=False) as setup:
        tenant_id, key = await setup.create_tenant("divided")
        client = Client(setup.http, key, tenant_id)
        await set_interval(client, 600)
        accounts = [await partner_account(client, f"p{i}") for i in range(30)]
        await setup.sql(
            "UPDATE account_metrics SET last_metrics_update = now() - interval '1 hour'")
        with serve(database_url, settings={"workers": 2, "worker_tick_seconds": 0.2},
                   timeout=300) as two:
            async with Subscriber(two.url, key) as sub:
                await sub.ack()
                await sub.subscribe(ALL_UPDATES)
                await asyncio.sleep(0.3)
                for account in accounts:
                    await write_invoice_behind_the_api(setup, tenant_id, account, "1.00")
                await each_refreshed_once(sub, accounts)


def test_pools_fit_max_connections() -> None:
    # 397 = max_connections 400 − 3 reserved for superusers; 10 spare; 2 beside each pool
    assert pool_per_process(Settings(), 2, 397) == 30  # the default fits: (387 // 2) − 2
    assert pool_per_process(Settings(), 8, 397) == 30  # 387 // 8 − 2 = 46
    assert pool_per_process(Settings(), 16, 397) == 22  # 387 // 16 − 2 = 24 − 2 = 22
    assert pool_per_process(Settings(pool_overflow=4), 16, 397) == 18  # 24 − 4 − 2
    assert pool_per_process(Settings(pool_size=20), 16, 397) == 20  # explicit and fits
    with pytest.raises(PoolSizeError, match="set BILLGRAPH_POOL_SIZE to at most 22"):
        pool_per_process(Settings(pool_size=30), 16, 397)
    with pytest.raises(PoolSizeError, match="at most 0"):
        pool_per_process(Settings(), 40, 97)  # 87 // 40 − 2 = 0


def test_serve_refuses_pools_that_do_not_fit(database_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLGRAPH_")}
    result = subprocess.run(
        [*BILLGRAPH, "serve", "--workers", "3", "--port", "1"], capture_output=True, text=True,
        timeout=120, stdin=subprocess.DEVNULL,
        env=dict(env, DATABASE_URL=database_url, BILLGRAPH_POOL_SIZE="200"))
    assert result.returncode == 2
    assert "3 processes × (pool 200 + overflow 0 + 2)" in result.stderr


async def test_processes_stop_when_their_supervisor_is_killed(database_url: str) -> None:
    """SIGKILL leaves no cleanup to the supervisor: its processes stop by themselves
    (PR_SET_PDEATHSIG) instead of serving on, unsupervised, on the port."""
    with serve(database_url, workers=False, settings={"workers": 2}, timeout=300) as server:
        answered = await pids_answering(server.url, 20)
        server.kill()
        deadline = asyncio.get_running_loop().time() + 60
        while any(running(pid) for pid in answered):
            assert asyncio.get_running_loop().time() < deadline, "processes serve on"
            await asyncio.sleep(0.2)
