"""`billgraph backup` / `billgraph restore`: a round trip driven through the API.

Back up, change things (orders, payments, invoices, a partner refresh), restore, and
every row of the tenant, every invariant and every account's metrics are as they were
at the backup; the restore refuses while a server is connected and keeps the data it
replaced. The test cluster is PostgreSQL 18 reached by URL, so the tools are chosen as
for DATABASE_URL (this machine's pg_dump on PATH may be older: then the wheel's)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from billgraph.db.backup import BackupError, Tools, choose_tools
from billgraph.db.engine import asyncpg_dsn, make_engine
from tests.api.partner_support import (
    APPLY_PAYMENT,
    CREATE_INVOICES,
    CREATE_ORDER,
    CREATE_PAYMENT,
    account,
    catalog,
    invoice,
    metrics,
    new_subscription,
    order,
    refresh,
)
from tests.conftest import PgCluster
from tests.invariants import snapshot, violations
from tests.support import Client, start_server
from tests.test_cli import run_cli


async def cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_cli, *args, database_url=database_url, check=False)


async def state(database_url: str, client: Client, accounts: list[str]) -> dict[str, Any]:
    """Every row of the tenant, the invariants broken (none) and each account's metrics."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await snapshot(conn, client.tenant_id)
            broken = await violations(conn, client.tenant_id, include_stale=True)
    finally:
        await engine.dispose()
    return {"rows": rows, "violations": broken,
            "metrics": {a: await metrics(client, a) for a in accounts}}


async def changes(client: Client, ids: dict[str, str]) -> None:
    """What happens after the backup: orders on both accounts, invoices, a payment
    applied, and the partner accounts refreshed."""
    await client.gql(CREATE_ORDER, order(ids["reseller"], new_subscription(
        ids["end_user"], ids["reseller"], quantity=3)))
    await client.gql(CREATE_ORDER, order(ids["direct"], new_subscription(
        ids["direct"], ids["direct"])))
    [created] = (await client.gql(CREATE_INVOICES, {"inputs": [
        invoice(ids["reseller"], "55.00")]}))["createStandaloneInvoices"]
    payment = (await client.gql(CREATE_PAYMENT, {"input": {
        "accountId": ids["reseller"], "amount": "55.00"}}))["createPayment"]["id"]
    await client.gql(APPLY_PAYMENT, {"id": payment, "apps": [
        {"invoiceId": created["invoice"]["id"], "amount": "55.00"}]})
    await refresh(client, ids["reseller"])
    await refresh(client, ids["end_user"])


async def test_backup_change_restore_round_trip(database_url: str, pg_cluster: PgCluster,
                                                tmp_path: Path) -> None:
    file = tmp_path / "billgraph.dump"
    async with start_server(database_url, run_workers=False) as server:
        tenant_id, key = await server.create_tenant("acme")
        client = Client(server.http, key, tenant_id)
        await catalog(client)
        ids = {"reseller": await account(client, "Reseller", True),
               "end_user": await account(client, "End user", True),
               "direct": await account(client, "Direct", False)}
        await client.gql(CREATE_ORDER, order(ids["reseller"], new_subscription(
            ids["end_user"], ids["reseller"])))
        results = (await client.gql(CREATE_INVOICES, {"inputs": [
            invoice(ids["reseller"], "100.00"), invoice(ids["reseller"], "100.00")]}))
        first = results["createStandaloneInvoices"][0]["invoice"]["id"]
        payment = (await client.gql(CREATE_PAYMENT, {"input": {
            "accountId": ids["reseller"], "amount": "40.00"}}))["createPayment"]["id"]
        await client.gql(APPLY_PAYMENT, {"id": payment, "apps": [
            {"invoiceId": first, "amount": "30.00"}]})
        await refresh(client, ids["reseller"])
        await refresh(client, ids["end_user"])
        at_backup = await state(database_url, client, list(ids.values()))
        assert at_backup["violations"] == []
        reseller = at_backup["metrics"][ids["reseller"]]
        # invoices 100.00 + 100.00, 30.00 of the 40.00 payment applied to the first
        assert reseller["totalInvoiceBalance"] == "170.00"  # 200.00 − 30.00
        assert reseller["unappliedPaymentAmount"] == "10.00"  # 40.00 − 30.00
        # the end user owns the subscription: TRACKER 12.00 a month + SUPPORT 60.00 a
        # quarter = 20.00 a month
        assert at_backup["metrics"][ids["end_user"]]["contractedMrr"] == "32.00"

        done = await cli("backup", str(file), database_url=database_url)
        assert done.returncode == 0, done.stderr
        assert re.search(r"backed up database \S+ \(\d+ tables, [\d.]+ kB\)", done.stdout)
        assert "backup: [1/" in done.stderr  # progress, table by table

        await changes(client, ids)
        changed = await state(database_url, client, list(ids.values()))
        assert changed["violations"] == []
        assert changed["rows"] != at_backup["rows"]
        # the third subscription's 3 trackers: 3 × 12.00 + 20.00 more on the end user
        assert changed["metrics"][ids["end_user"]]["contractedMrr"] == "88.00"  # 32 + 56

        refused = await cli("restore", str(file), database_url=database_url)
        assert refused.returncode == 2
        assert "is in use" in refused.stderr and "billgraph" in refused.stderr
        assert (await state(database_url, client, list(ids.values())))["rows"] == \
            changed["rows"]

    restored = await cli("restore", str(file), database_url=database_url)
    assert restored.returncode == 0, restored.stderr
    assert "restore: [1/" in restored.stderr
    previous = re.search(r"kept as database (\S+) ", restored.stdout)
    assert previous, restored.stdout
    try:
        async with start_server(database_url, run_workers=False) as server:
            client = Client(server.http, key, tenant_id)
            after = await state(database_url, client, list(ids.values()))
            assert after == at_backup
            # the sequences came back too: the next invoice gets a fresh number
            await client.gql(CREATE_INVOICES, {"inputs": [invoice(ids["reseller"], "1.00")]})
            await refresh(client, ids["reseller"])
            assert (await state(database_url, client, []))["violations"] == []

        in_place = await cli("restore", "--in-place", str(file), database_url=database_url)
        assert in_place.returncode == 0, in_place.stderr
        async with start_server(database_url, run_workers=False) as server:
            client = Client(server.http, key, tenant_id)
            assert await state(database_url, client, list(ids.values())) == at_backup
    finally:
        conn = await asyncpg.connect(asyncpg_dsn(pg_cluster.admin_url))
        try:
            kept = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1",
                                       previous.group(1))
            await conn.execute(f'DROP DATABASE IF EXISTS "{previous.group(1)}" WITH (FORCE)')
        finally:
            await conn.close()
    assert kept == 1


async def test_restore_refuses_what_is_not_a_backup(database_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not an archive")
    result = await cli("restore", str(junk), database_url=database_url)
    assert result.returncode == 2
    assert "is not a backup pg_restore" in result.stderr
    missing = await cli("restore", str(tmp_path / "nope.dump"), database_url=database_url)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    nowhere = await cli("backup", str(tmp_path / "no" / "x.dump"), database_url=database_url)
    assert nowhere.returncode == 2 and "does not exist" in nowhere.stderr


def test_tools_of_the_servers_version_first_then_newer_never_older() -> None:
    path, wheel, old = Tools(Path("/usr/bin"), 15), Tools(Path("/wheel"), 18), Tools(
        Path("/old"), 13)
    assert choose_tools([path, wheel], 15) == path
    assert choose_tools([path, wheel], 16) == wheel  # pg_dump reads older servers
    assert choose_tools([wheel, path], 14) == path  # the oldest newer one
    with pytest.raises(BackupError, match=r"PostgreSQL 18 or newer \(found: 15 in /usr/bin, "
                                          r"13 in /old\).*postgresql-client-18"):
        choose_tools([path, old], 18)
