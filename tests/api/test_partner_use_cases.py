"""The four use cases of the Reseller Account seed, end to end through the API."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.api.partner_support import (
    CREATE_INVOICES,
    CREATE_ORDER,
    account,
    amounts,
    catalog,
    invoice,
    metrics,
    new_subscription,
    order,
    recomputed,
    refresh,
)
from tests.support import Client, LiveServer, start_server

BILL_RUN = """mutation($input: BillRunInput!) { billRun(input: $input) { id status } }"""
BILL_RUN_STATUS = """query($id: ID!) { billRun(id: $id) { status accountsProcessed
  invoicesCreated totalAmount errors { code message } } }"""
INVOICES = """query($id: ID!) { invoices(filter: {accountId: $id}) { totalCount edges { node {
  amount status lines { subscription { subscriptionNumber } amount servicePeriodStart
  servicePeriodEnd } } } } }"""


async def wait_for_bill_run(client: Client, run_id: str) -> dict[str, Any]:
    for _ in range(300):
        run = (await client.gql(BILL_RUN_STATUS, {"id": run_id}))["billRun"]
        if run["status"] in ("COMPLETED", "FAILED"):
            return dict(run)
        await asyncio.sleep(0.1)
    raise AssertionError("bill run did not finish")


async def assert_exact_after_refresh(server: LiveServer, client: Client, account_id: str,
                                     before: dict[str, Any]) -> dict[str, Any]:
    after = await refresh(client, account_id)
    assert after["stale"] is False
    assert after["lastMetricsUpdate"] > before["lastMetricsUpdate"]
    assert amounts(after) == await recomputed(server, account_id)
    return after


async def test_reseller_month_end(database_url: str) -> None:
    """Flag the reseller and its end users; create their subscriptions in parallel orders;
    bill the reseller at month end; read lastMetricsUpdate."""
    async with start_server(database_url, run_workers=True, worker_tick_seconds=0.1) as server:
        async with server.new_tenant("fleet") as client:
            await catalog(client)
            reseller = await account(client, "Fleet Reseller", partner=True)
            users = [await account(client, f"Driver {i}", partner=True) for i in range(10)]
            before = await metrics(client, reseller)
            orders = [order(reseller, new_subscription(users[i % 10], reseller))
                      for i in range(30)]
            results = await asyncio.gather(*(client.post(CREATE_ORDER, o) for o in orders))
            assert [r.json().get("errors") for r in results] == [None] * 30
            assert (await client.gql(INVOICES, {"id": reseller}))["invoices"]["totalCount"] == 0
            run = (await client.gql(BILL_RUN, {"input": {"targetDate": "2026-01-31",
                                                         "accountIds": [reseller]}}))["billRun"]
            assert run["status"] == "PENDING"
            done = await wait_for_bill_run(client, run["id"])
            assert done["status"] == "COMPLETED" and done["errors"] == []
            assert done["invoicesCreated"] == 1
            page = (await client.gql(INVOICES, {"id": reseller}))["invoices"]
            [reseller_invoice] = [e["node"] for e in page["edges"]]
            # one invoice for the reseller, a line per item of each of the 30 subscriptions:
            # TRACKER 12.00 for January; SUPPORT billed monthly = 60.00 / 3 = 20.00
            assert len(reseller_invoice["lines"]) == 60
            assert Decimal(reseller_invoice["amount"]) == 30 * (Decimal("12.00") + Decimal("20.00"))
            assert done["totalAmount"] == reseller_invoice["amount"]
            after = await assert_exact_after_refresh(server, client, reseller, before)
            assert after["totalInvoiceBalance"] == "960.00"
            for user in users:
                assert (await refresh(client, user))["contractedMrr"] == "96.00"  # 3 × 32.00


async def test_edi_distributor_batches(server: LiveServer, client: Client) -> None:
    """Only the invoice owner is flagged; subscription owners are distinct non-partner
    accounts whose contractedMrr is computed synchronously."""
    await catalog(client)
    distributor = await account(client, "EDI Distributor", partner=True)
    before = await metrics(client, distributor)
    customers: list[str] = []
    for batch in range(3):  # a batch every few minutes
        batch_customers = [await account(client, f"EDI {batch}-{i}", partner=False)
                           for i in range(8)]
        customers += batch_customers
        results = await asyncio.gather(*(client.post(CREATE_ORDER, order(
            distributor, new_subscription(c, distributor), date=f"2026-0{batch + 1}-01"))
            for c in batch_customers))
        assert [r.json().get("errors") for r in results] == [None] * 8
        for c in batch_customers:
            m = await metrics(client, c)
            assert m["stale"] is False and m["contractedMrr"] == "32.00"
    stale = await metrics(client, distributor)
    assert stale["stale"] is True
    await assert_exact_after_refresh(server, client, distributor, before)


async def test_standalone_invoice_migration(server: LiveServer, client: Client) -> None:
    distributor = await account(client, "Migrated Distributor", partner=True)
    before = await metrics(client, distributor)
    batches = [{"inputs": [invoice(distributor, f"{b}.{i:02d}", date=f"2025-{(i % 12) + 1:02d}-15")
                           for i in range(100)]} for b in range(1, 9)]
    results = await asyncio.gather(*(client.post(CREATE_INVOICES, b) for b in batches))
    for r in results:
        body = r.json()
        assert not body.get("errors")
        assert all(item["errors"] == [] for item in body["data"]["createStandaloneInvoices"])
    assert (await metrics(client, distributor))["stale"] is True
    after = await assert_exact_after_refresh(server, client, distributor, before)
    expected = sum(Decimal(f"{b}.{i:02d}") for b in range(1, 9) for i in range(100))
    assert after["totalInvoiceBalance"] == str(expected)
    assert after["lastInvoiceDate"] == "2025-12-15"


async def test_concurrent_owner_transfers_between_partner_accounts(
    server: LiveServer, client: Client
) -> None:
    await catalog(client)
    reseller = await account(client, "Reseller", partner=True)
    source = await account(client, "Source", partner=True)
    target = await account(client, "Target", partner=True)
    created = await client.gql(CREATE_ORDER, order(
        reseller, *[new_subscription(source, reseller) for _ in range(20)]))
    numbers = [s["subscription"]["subscriptionNumber"]
               for s in created["createOrder"]["subscriptions"]]
    await refresh(client, source)
    before = {a: await refresh(client, a) for a in (source, target)}
    assert before[source]["contractedMrr"] == "640.00"
    transfers = [order(reseller, {"subscriptionNumber": n, "actions": [{
        "type": "OWNER_TRANSFER", "effectiveDate": "2026-02-01",
        "newSubscriptionOwnerAccountId": target}]}, date="2026-02-01") for n in numbers[:12]]
    results = await asyncio.gather(*(client.post(CREATE_ORDER, t) for t in transfers))
    assert [r.json().get("errors") for r in results] == [None] * 12
    for a in (source, target):
        assert (await metrics(client, a))["stale"] is True
    source_after = await assert_exact_after_refresh(server, client, source, before[source])
    target_after = await assert_exact_after_refresh(server, client, target, before[target])
    assert source_after["contractedMrr"] == "256.00"  # 8 × 32.00
    assert target_after["contractedMrr"] == "384.00"  # 12 × 32.00
