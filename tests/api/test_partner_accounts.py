"""Partner accounts under concurrent load (SPEC §1): no errors, no lock competition;
metrics deferred and exact after the refresh. Non-partner accounts: fresh after every write."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

from tests.api.partner_support import (
    APPLY_PAYMENT,
    CREATE_INVOICES,
    CREATE_ORDER,
    CREATE_PAYMENT,
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
from tests.support import Client, LiveServer


async def prepare(client: Client, partner: bool) -> dict[str, Any]:
    """An invoice owner, 8 end-user subscription owners, 16 invoices and 16 payments to apply."""
    await catalog(client)
    reseller = await account(client, "Reseller", partner)
    owners = [await account(client, f"End user {i}", partner) for i in range(8)]
    results = (await client.gql(CREATE_INVOICES, {"inputs": [
        invoice(reseller, "100.00") for _ in range(16)]}))["createStandaloneInvoices"]
    invoices = [r["invoice"]["id"] for r in results]
    payments = [(await client.gql(CREATE_PAYMENT, {"input": {
        "accountId": reseller, "amount": "40.00"}}))["createPayment"]["id"] for _ in range(16)]
    await refresh(client, reseller)
    return {"reseller": reseller, "owners": owners, "invoices": invoices, "payments": payments}


def writes(setup: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """64 writes to one invoice owner: 16 each of createOrder, createStandaloneInvoices,
    createPayment and applyPayment."""
    reseller, owners = setup["reseller"], setup["owners"]
    load: list[tuple[str, dict[str, Any]]] = []
    for i in range(16):
        load.append((CREATE_ORDER, order(reseller, new_subscription(owners[i % 8], reseller))))
        load.append((CREATE_INVOICES, {"inputs": [invoice(reseller, f"{i + 1}.25")
                                                  for _ in range(5)]}))
        load.append((CREATE_PAYMENT, {"input": {"accountId": reseller, "amount": "7.77"}}))
        load.append((APPLY_PAYMENT, {"id": setup["payments"][i], "apps": [
            {"invoiceId": setup["invoices"][i], "amount": "30.00"}]}))
    random.Random(5).shuffle(load)
    return load


async def fire(client: Client, load: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    responses = await asyncio.gather(*(client.post(query, variables) for query, variables in load))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return [r.json() for r in responses]


async def test_64_concurrent_writes_to_one_partner_account(
    server: LiveServer, client: Client
) -> None:
    setup = await prepare(client, partner=True)
    accounts = [setup["reseller"], *setup["owners"]]
    before = {a: await metrics(client, a) for a in accounts}
    bodies = await fire(client, writes(setup))
    errors = [b["errors"] for b in bodies if b.get("errors")]
    assert errors == []
    per_result = [r for b in bodies if "createStandaloneInvoices" in b["data"]
                  for r in b["data"]["createStandaloneInvoices"]]
    assert all(r["errors"] == [] for r in per_result)
    for a in accounts:
        during = await metrics(client, a)
        assert during["stale"] is True, a
        assert amounts(during) == amounts(before[a])  # left as they were
        assert during["lastMetricsUpdate"] == before[a]["lastMetricsUpdate"]
    for a in accounts:
        after = await refresh(client, a)
        assert after["stale"] is False
        assert after["lastMetricsUpdate"] > before[a]["lastMetricsUpdate"]
        assert amounts(after) == await recomputed(server, a)
    reseller = await metrics(client, setup["reseller"])
    # 16 × 100 + Σ_{i<16} 5 × (i + 1.25) − 16 × 30 applied = 1600 + 700 − 480
    assert reseller["totalInvoiceBalance"] == "1820.00"
    # 16 × 40 − 16 × 30 + 16 × 7.77
    assert reseller["unappliedPaymentAmount"] == "284.32"
    owner_mrr = [Decimal((await metrics(client, o))["contractedMrr"]) for o in setup["owners"]]
    assert sum(owner_mrr) == 16 * Decimal("32.00")  # 12.00 + 60.00 / 3 per subscription


async def test_the_same_load_on_a_non_partner_account(server: LiveServer, client: Client) -> None:
    setup = await prepare(client, partner=False)
    bodies = await fire(client, writes(setup))
    assert [b["errors"] for b in bodies if b.get("errors")] == []
    for a in [setup["reseller"], *setup["owners"]]:
        now = await metrics(client, a)
        assert now["stale"] is False
        assert amounts(now) == await recomputed(server, a)
    marks = await server.sql("SELECT count(*) AS n FROM metrics_stale_marks WHERE tenant_id = :t",
                             t=client.tenant_id)
    assert marks[0]["n"] == 0  # synchronous all along: never deferred


async def test_each_write_shows_fresh_metrics_on_a_non_partner_account(client: Client) -> None:
    setup = await prepare(client, partner=False)
    reseller = setup["reseller"]
    created = await client.gql(
        "mutation($i: [StandaloneInvoiceInput!]!) { createStandaloneInvoices(inputs: $i) "
        "{ invoice { account { metrics { totalInvoiceBalance stale } } } } }",
        {"i": [invoice(reseller, "1.00")]})
    shown = created["createStandaloneInvoices"][0]["invoice"]["account"]["metrics"]
    assert shown == {"totalInvoiceBalance": "1601.00", "stale": False}
