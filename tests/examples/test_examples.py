"""Every example script runs against a started server (workers on), each with the API
key of a fresh tenant, like a user following the README would run it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import LiveServer, start_server

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[LiveServer]:
    async with start_server(database_url, run_workers=True, worker_tick_seconds=0.1) as server:
        yield server


async def fresh_key(server: LiveServer) -> str:
    return (await server.create_tenant(f"examples-{uuid.uuid4().hex[:8]}"))[1]


async def start(server: LiveServer, key: str, script: str,
                *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "BILLGRAPH_URL": server.url, "BILLGRAPH_API_KEY": key}
    return await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / script), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def example(server: LiveServer, script: str, *args: str) -> list[str]:
    """Run an example to its end with a fresh tenant's key: its output lines."""
    process = await start(server, await fresh_key(server), script, *args)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    output = stdout.decode()
    assert process.returncode == 0, f"{script}: {output}\n{stderr.decode()}"
    return output.splitlines()


def line(lines: list[str], start: str) -> str:
    found = [ln for ln in lines if ln.startswith(start)]
    assert found, f"no line starting with {start!r} in {lines}"
    return found[0]


async def test_reseller_month_end(live: LiveServer) -> None:
    lines = await example(live, "reseller_month_end.py", "--month", "2026-01", "--refresh")
    assert "catalog: plan FLEET" in lines
    assert line(lines, "reseller ").endswith("and 10 end users flagged as partner accounts")
    assert "orders: 30 created in parallel, 0 failed" in lines
    assert "partner margin PARTNER10 on 30 subscriptions; reseller taxed in DE" in lines
    # 30 x (TRACKER 12.00 + SUPPORT 60.00 a quarter = 20.00 a month) = 960.00; 10 % off:
    # 1.20 and 2.00; 19 % VAT of 10.80 = 2.052 -> 2.05 and of 18.00 = 3.42, per line:
    # 30 x 5.47 = 164.10; 960.00 - 96.00 + 164.10 = 1028.10
    assert line(lines, "bill run ").endswith(": COMPLETED, 1 invoice(s), total 1028.10")
    assert line(lines, "  invoice ").endswith(": 1028.10 (POSTED, 60 lines)")
    assert "    subtotal 960.00 - discount 96.00 + tax 164.10" in lines
    reseller = next(ln for ln in lines if ln.startswith("reseller A") and "balance" in ln)
    assert "balance 1028.10 USD" in reseller and "stale=false" in reseller
    assert "lastMetricsUpdate=20" in reseller
    assert "contractedMrr 96.00" in line(lines, "end user ")


async def test_edi_batches(live: LiveServer) -> None:
    lines = await example(live, "edi_batches.py", "--interval", "0.5", "--batches", "3",
                          "--orders-per-batch", "5")
    assert line(lines, "distributor ").endswith("a batch every 0.5 s")
    assert [ln for ln in lines if ln.startswith("batch ")] == [
        f"batch {n}: 5 orders processed, 0 failed" for n in (1, 2, 3)]
    customer = line(lines, "  customer ")
    assert "contractedMrr" in customer and customer.endswith("(synchronous)")
    assert "stale=true" in line(lines, "  distributor ")  # deferred: a partner account


async def test_edi_batches_from_a_drop_folder(live: LiveServer, tmp_path: Path) -> None:
    for n in range(3):
        (tmp_path / f"po-{n}.json").write_text(json.dumps({
            "ediOrderId": f"PO-{n}", "customer": f"Haulage {n}", "date": "2026-01-05",
            "trackers": n + 1}))
    lines = await example(live, "edi_batches.py", "--batches", "1", "--edi-dir",
                          str(tmp_path), "--verbose")
    assert "batch 1: 3 orders processed, 0 failed" in lines
    assert any(ln.startswith("  PO-2: customer ") and ln.endswith("contractedMrr 56.00")
               for ln in lines)  # 3 trackers x 12.00 + support 20.00
    assert sorted(p.name for p in (tmp_path / "processed").iterdir()) == [
        "po-0.json", "po-1.json", "po-2.json"]


async def test_standalone_invoice_migration(live: LiveServer) -> None:
    lines = await example(live, "standalone_invoice_migration.py", "--invoices", "2500",
                          "--refresh")
    assert line(lines, "created 2500 invoices").split(" in ")[1].startswith("3 requests, 0 failed")
    assert line(lines, "account A").endswith("flagged as a partner account")
    assert any(ln.startswith("account A") and ln.endswith("has 2500 invoices") for ln in lines)
    metrics = next(ln for ln in lines if ln.startswith("account A") and "balance" in ln)
    assert "balance 92500.00 USD" in metrics and "stale=false" in metrics


async def test_owner_transfer(live: LiveServer) -> None:
    lines = await example(live, "owner_transfer.py", "--date", "2026-02-01", "--refresh")
    assert "transfers: 12 concurrent orders succeeded, 0 failed" in lines
    before = [ln for ln in lines if ln.startswith("before:")]
    after = [ln for ln in lines if ln.startswith("after:")]
    assert "contractedMrr 640.00" in before[0] and "contractedMrr 0.00" in before[1]
    assert "contractedMrr 256.00" in after[0] and "contractedMrr 384.00" in after[1]


async def test_live_dashboard_prints_each_change(live: LiveServer) -> None:
    tenant_id, key = await live.create_tenant(f"dashboard-{uuid.uuid4().hex[:8]}")
    from tests.support import Client

    client = Client(live.http, key, tenant_id)
    account = (await client.gql('mutation { createAccount(input: {name: "Watched", '
                                'partnerAccount: true}) { id accountNumber } }'))["createAccount"]
    process = await start(live, key, "live_dashboard.py", "--account", account["id"],
                          "--max-events", "2")
    assert process.stdout is not None
    first = await asyncio.wait_for(process.stdout.readline(), 30)
    assert first.decode().startswith("listening for metricsUpdated (account ")

    async def poke() -> None:
        """Writes and refreshes until the dashboard has had its two events."""
        amount = 10
        while process.returncode is None:
            await client.gql("mutation($id: ID!, $a: Decimal!) { createPayment(input: "
                             "{accountId: $id, amount: $a}) { id } }",
                             {"id": account["id"], "a": f"{amount}.00"})
            await client.gql("mutation($id: ID!) { refreshMetrics(accountId: $id) { stale } }",
                             {"id": account["id"]})
            amount += 1
            await asyncio.sleep(0.3)

    poker = asyncio.create_task(poke())
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    finally:
        poker.cancel()
    assert process.returncode == 0, stderr.decode()
    events = stdout.decode().splitlines()
    assert len(events) == 2, events
    number = account["accountNumber"]
    assert f" {number} (partner, Watched): balance 0.00, creditBalance " in events[0]
    assert "stale false" in events[0]
    assert f" {number} (partner, Watched): creditBalance " in events[1]
    assert " -> " in events[1]


async def test_fleet_usage(live: LiveServer) -> None:
    lines = await example(live, "fleet_usage.py", "--month", "2026-01", "--refresh")
    # 140 vehicles × (31 January days + Feb 1) = 4,480 records
    assert "usage: 4480 device-day records sent, 4480 accepted, 0 refused" in lines
    assert "retry: 1000 records sent again, 1000 reported duplicate" in lines
    assert "metrics unchanged by usage: true" in lines
    # January device-days, VOLUME: 310 × 0.40 = 124.00, 620 × 0.30 = 186.00,
    # 930 × 0.30 = 279.00, 2480 × 0.25 = 620.00 (1,209.00); the Feb 1 records are not in
    summaries = [ln for ln in lines if ln.startswith("  S") and "2026-01-01..2026-01-31" in ln]
    assert [ln.split(": ", 1)[1] for ln in summaries] == [
        "310 device-days, 124.00 (billed=false)", "620 device-days, 186.00 (billed=false)",
        "930 device-days, 279.00 (billed=false)", "2480 device-days, 620.00 (billed=false)"]
    # + the platform fee in advance for January and February: 4 × 2 × 49.00 = 392.00
    assert "bill run: COMPLETED, 1 invoice(s), total 1601.00" in lines
    assert line(lines, "reseller after the bill run ").startswith(
        "reseller after the bill run A")
    assert "balance 1601.00 USD" in line(lines, "reseller after the bill run ")


async def test_distributor_hierarchy(live: LiveServer) -> None:
    lines = await example(live, "distributor_hierarchy.py")
    assert line(lines, "distributor ").endswith("over 2 resellers and 6 end users")
    # USD: 3 + 2 end users × 100.00 = 500.00, × 32.00 MRR = 160.00; 1 + 2 + 5 = 8 accounts
    assert ("Distributor (depth 0): USD 8 accounts, balance 500.00, contractedMrr 160.00, "
            "stale=false") in lines
    assert "Distributor (depth 0): EUR 1 accounts, balance 80.00, contractedMrr 0.00, " \
           "stale=false" in lines
    # Reseller 1: itself + 3 end users = 4, 300.00, 96.00; Reseller 2: itself + 2 = 3
    assert ("  Reseller 1 (depth 1): USD 4 accounts, balance 300.00, contractedMrr 96.00, "
            "stale=false") in lines
    assert ("  Reseller 2 (depth 1): USD 3 accounts, balance 200.00, contractedMrr 64.00, "
            "stale=false") in lines
    assert "    End user 1.1 (depth 2) < Reseller 1 < Distributor" in lines


async def test_distributor_hierarchy_rolled_up_by_the_refresher(live: LiveServer) -> None:
    lines = await example(live, "distributor_hierarchy.py", "--wait", "--interval", "1")
    assert ("Distributor (depth 0): USD 8 accounts, balance 500.00, contractedMrr 160.00, "
            "stale=false") in lines


async def test_month_end_preview(live: LiveServer) -> None:
    lines = await example(live, "month_end_preview.py", "--month", "2026-01", "--end-users", "3")
    assert line(lines, "reseller ").endswith("pays for 3 end users")
    # the newcomer owns the new subscription: 2 trackers x 12.00 + 60.00 a quarter = 44.00
    assert any(ln.startswith("order preview: contractedMrr of ") and ln.endswith(
        " 0.00 -> 44.00") for ln in lines)
    # 3 x (12.00 + 20.00) + 2 x 12.00 + 20.00 = 140.00; 19 % VAT per line: 3 x (2.28 + 3.80)
    # + 4.56 + 3.80 = 26.60 -> 166.60
    assert "order preview: the reseller's month-end invoice 166.60 (8 lines)" in lines
    assert "billing preview: 1 invoice(s), total 166.60" in lines
    assert "bill run: COMPLETED, 1 invoice(s), total 166.60" in lines
    assert "preview and bill run agree: 8 lines" in lines
    assert "order preview's invoice matches the bill run's" in lines
    assert line(lines, "invoice INV").startswith("invoice INV")
    assert "166.60, PDF of " in line(lines, "invoice INV")
