"""recordUsage at partner-account speed (SPEC §1, §11): 32 concurrent calls into one
partner account's subscriptions, every record counted once, metrics untouched."""

from __future__ import annotations

import asyncio

from tests.api.bill_run_support import bill, subscribe
from tests.api.partner_support import account, metrics, recomputed, refresh
from tests.api.pricing_support import priced_plan, record, usage, usage_record
from tests.support import Client, LiveServer

CALLS = 32
OWN = 100  # records of each call alone
SHARED = 10  # records each call shares with the next one (sent twice, counted once)
SUBSCRIPTIONS = 8


async def test_32_concurrent_record_usage_calls_into_one_partner_account(
        client: Client, server: LiveServer) -> None:
    await priced_plan(client, "METERED", {"productCode": "GB", "chargeType": "USAGE",
                                          "price": "2.00"})
    partner = await account(client, "Distributor", True)
    subs = [str((await subscribe(client, partner, "2026-01-01", plan_code="METERED",
                                 items=[{"productCode": "GB"}]))["subscriptionNumber"])
            for _ in range(SUBSCRIPTIONS)]
    before = await refresh(client, partner)
    assert not before["stale"]

    def batch(i: int) -> list[dict[str, str]]:
        own = [f"c{i}-{k}" for k in range(OWN)]
        shared = [f"s{(i + j) % CALLS}-{k}" for j in (0, 1) for k in range(SHARED // 2)]
        return [usage_record(r, subs[n % SUBSCRIPTIONS], "GB", "1",
                             f"2026-01-{1 + n % 28:02d}T12:00:00Z")
                for n, r in enumerate(own + shared)]

    results = await asyncio.gather(*(record(client, *batch(i)) for i in range(CALLS)))
    flat = [r for call in results for r in call]
    assert len(flat) == CALLS * (OWN + SHARED)
    assert [r for r in flat if r["errors"]] == []  # 0 errors
    # every distinct recordId accepted exactly once: 32 × 100 own + 32 × 5 shared ids
    distinct = CALLS * OWN + CALLS * SHARED // 2
    accepted = [r["recordId"] for r in flat if r["accepted"]]
    assert len(accepted) == len(set(accepted)) == distinct
    assert sum(r["duplicate"] for r in flat) == len(flat) - distinct  # 160 sent twice
    stored = await server.sql("SELECT count(*) AS n FROM usage_records WHERE tenant_id = :t",
                              t=client.tenant_id)
    assert stored[0].n == distinct
    # metrics untouched: not stale, not recomputed, no stale mark written
    assert await metrics(client, partner) == before
    marks = await server.sql("SELECT count(*) AS n FROM metrics_stale_marks "
                             "WHERE tenant_id = :t", t=client.tenant_id)
    assert marks[0].n == 0
    summaries = [s for sub in subs for s in await usage(client, sub, "2026-01-01",
                                                        "2026-01-31")]
    assert sum(int(s["quantity"]) for s in summaries) == distinct
    # billed: 3,360 GB × 2.00 = 6,720.00 in one invoice to the partner; metrics follow
    # only once the refresh has run
    run = await bill(client, server, "2026-02-01")
    assert (run["invoicesCreated"], run["totalAmount"]) == (1, "6720.00")
    assert (await metrics(client, partner))["stale"]
    after = await refresh(client, partner)
    assert (after["stale"], after["totalInvoiceBalance"]) == (False, "6720.00")
    assert after == {**after, **await recomputed(server, partner)}
