"""USAGE charges and recordUsage (SPEC §11): aggregation, arrears, late records, duplicates,
validation, summaries. Amounts worked out by hand in the comments."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from billgraph.bootstrap import job_kinds
from billgraph.workers.jobs import run_job
from tests.api.bill_run_support import (
    account,
    bill,
    claim_jobs,
    get,
    ledger,
    start,
    subscribe,
    worker_state,
)
from tests.api.pricing_support import (
    RECORD,
    billed,
    invoice_lines,
    priced_plan,
    record,
    usage,
    usage_record,
)
from tests.support import Client, LiveServer

USAGE_CHARGES: list[dict[str, Any]] = [
    {"productCode": "GB", "chargeType": "USAGE", "price": "2.00", "unitOfMeasure": "GB"},
    {"productCode": "PEAK", "chargeType": "USAGE", "price": "2.00", "usageAggregation": "MAX"},
    {"productCode": "LAST", "chargeType": "USAGE", "price": "2.00", "usageAggregation": "LAST"},
    # device-days: 1–100 at 1.00, 101+ at 0.50
    {"productCode": "DEVICE", "chargeType": "USAGE", "price": "0", "pricingModel": "TIERED",
     "unitOfMeasure": "device-day",
     "tiers": [{"upTo": "100", "unitPrice": "1.00"}, {"upTo": None, "unitPrice": "0.50"}]},
    # 100 GB packages at 5.00
    {"productCode": "BACKUP", "chargeType": "USAGE", "price": "5.00", "pricingModel": "PACKAGE",
     "packageSize": 100},
]
PRODUCTS = ("GB", "PEAK", "LAST", "DEVICE", "BACKUP")


async def metered(client: Client) -> tuple[str, str]:
    """An account with a monthly subscription (cycle day 1, from 2026-01-01) on every
    USAGE charge; (account id, subscription number)."""
    await priced_plan(client, "METERED", *USAGE_CHARGES)
    owner = await account(client, "Owner")
    sub = await subscribe(client, owner, "2026-01-01", plan_code="METERED",
                          items=[{"productCode": p} for p in PRODUCTS])
    return owner, str(sub["subscriptionNumber"])


async def test_sum_max_last_over_a_month_by_utc_date(client: Client,
                                                     server: LiveServer) -> None:
    owner, sub = await metered(client)
    records = []
    for p in ("GB", "PEAK", "LAST"):
        records += [
            usage_record(f"{p}-1", sub, p, "4", "2026-01-05T10:00:00Z"),
            usage_record(f"{p}-2", sub, p, "7", "2026-01-20T08:00:00Z"),
            # 2026-02-01 01:30 at +02:00 is 2026-01-31 23:30 UTC: January's last day
            usage_record(f"{p}-3", sub, p, "2", "2026-02-01T01:30:00+02:00"),
            # 2026-02-01 00:10 UTC: the next day, February's period
            usage_record(f"{p}-4", sub, p, "5", "2026-02-01T00:10:00Z"),
        ]
    results = await record(client, *records)
    assert all(r["accepted"] and not r["errors"] for r in results)
    # in arrears: January's last day (Jan 31) is not before a target of Jan 31
    assert (await bill(client, server, "2026-01-31"))["invoicesCreated"] == 0
    await bill(client, server, "2026-02-01")
    [lines] = await invoice_lines(client, owner)
    assert sorted(billed(lines)) == [
        # GB (SUM): 4 + 7 + 2 = 13 GB × 2.00 = 26.00
        ("GB", "2026-01-01", "2026-01-31", "26.00"),
        # LAST: the record with the latest timestamp in January, 2 × 2.00 = 4.00
        ("LAST", "2026-01-01", "2026-01-31", "4.00"),
        # PEAK (MAX): the largest record, 7 × 2.00 = 14.00
        ("PEAK", "2026-01-01", "2026-01-31", "14.00"),
    ]
    assert {(ln["chargeType"], ln["pricingModel"]) for ln in lines} == {("USAGE", "PER_UNIT")}
    assert {ln["product"]["code"]: ln["quantity"] for ln in lines} == {
        "GB": "13", "PEAK": "7", "LAST": "2"}
    summaries = await usage(client, sub, "2026-01-01", "2026-02-15")
    assert [(s["product"]["code"], s["periodStart"], s["quantity"], s["recordCount"],
             s["amount"], s["billed"]) for s in summaries if s["product"]["code"] == "GB"] == [
        ("GB", "2026-01-01", "13", 3, "26.00", True),
        # February so far: 5 GB × 2.00 = 10.00, not billed yet
        ("GB", "2026-02-01", "5", 1, "10.00", False)]
    assert [s["periodEnd"] for s in summaries[:2]] == ["2026-01-31", "2026-02-28"]


async def test_a_late_record_is_billed_as_the_difference(client: Client,
                                                         server: LiveServer) -> None:
    owner, sub = await metered(client)
    await record(client,
                 usage_record("g1", sub, "GB", "13", "2026-01-05T00:00:00Z"),
                 usage_record("p1", sub, "PEAK", "7", "2026-01-05T00:00:00Z"),
                 usage_record("l1", sub, "LAST", "2", "2026-01-31T12:00:00Z"),
                 usage_record("d1", sub, "DEVICE", "90", "2026-01-31T12:00:00Z"))
    await bill(client, server, "2026-02-01")
    [first] = await invoice_lines(client, owner)
    # 13 × 2 = 26.00; 7 × 2 = 14.00; 2 × 2 = 4.00; 90 device-days in the first tier: 90.00
    assert sorted(billed(first)) == [("DEVICE", "2026-01-01", "2026-01-31", "90.00"),
                                     ("GB", "2026-01-01", "2026-01-31", "26.00"),
                                     ("LAST", "2026-01-01", "2026-01-31", "4.00"),
                                     ("PEAK", "2026-01-01", "2026-01-31", "14.00")]
    # late records for January, after it was billed
    await record(client,
                 usage_record("g2", sub, "GB", "3", "2026-01-15T00:00:00Z"),
                 usage_record("p2", sub, "PEAK", "9", "2026-01-16T00:00:00Z"),
                 usage_record("l2", sub, "LAST", "6", "2026-01-10T00:00:00Z"),
                 usage_record("d2", sub, "DEVICE", "20", "2026-01-20T00:00:00Z"))
    await bill(client, server, "2026-02-02")
    _, second = await invoice_lines(client, owner)
    assert sorted(billed(second)) == [
        # TIERED: model(110) − billed = (100 × 1.00 + 10 × 0.50) − 90.00 = 105 − 90 = 15.00
        ("DEVICE", "2026-01-01", "2026-01-31", "15.00"),
        # SUM: (13 + 3) × 2.00 − 26.00 = 6.00
        ("GB", "2026-01-01", "2026-01-31", "6.00"),
        # MAX: 9 × 2.00 − 14.00 = 4.00
        ("PEAK", "2026-01-01", "2026-01-31", "4.00"),
        # LAST: still the Jan 31 record (the Jan 10 one is earlier): no difference, no line
    ]
    assert all(ln["description"].startswith("Adjustment") for ln in second)
    assert (await bill(client, server, "2026-02-02"))["invoicesCreated"] == 0


async def test_package_of_250_gb_in_packages_of_100(client: Client,
                                                     server: LiveServer) -> None:
    owner, sub = await metered(client)
    await record(client, usage_record("b1", sub, "BACKUP", "100", "2026-01-03T00:00:00Z"),
                 usage_record("b2", sub, "BACKUP", "150", "2026-01-04T00:00:00Z"))
    await bill(client, server, "2026-02-01")
    [[line]] = await invoice_lines(client, owner)
    # 100 + 150 = 250 GB: ⌈250 / 100⌉ = 3 packages × 5.00 = 15.00
    assert billed([line]) == [("BACKUP", "2026-01-01", "2026-01-31", "15.00")]
    assert (line["quantity"], line["pricingModel"]) == ("250", "PACKAGE")


async def test_a_duplicate_record_sent_by_two_concurrent_calls_counts_once(
        client: Client, server: LiveServer) -> None:
    owner, sub = await metered(client)
    same = usage_record("dup", sub, "GB", "10", "2026-01-07T00:00:00Z")
    a, b = await asyncio.gather(
        record(client, same, usage_record("a", sub, "GB", "1", "2026-01-08T00:00:00Z")),
        record(client, same, usage_record("b", sub, "GB", "2", "2026-01-09T00:00:00Z")))
    firsts = [a[0], b[0]]
    assert sorted((r["accepted"], r["duplicate"]) for r in firsts) == [(False, True),
                                                                       (True, False)]
    assert a[1]["accepted"] and b[1]["accepted"]
    again = await record(client, same, same)
    assert [(r["accepted"], r["duplicate"], r["errors"]) for r in again] == [
        (False, True, []), (False, True, [])]
    [summary] = [s for s in await usage(client, sub, "2026-01-01", "2026-01-31")
                 if s["product"]["code"] == "GB"]
    # 10 (once) + 1 + 2 = 13 GB, 3 records; 13 × 2.00 = 26.00
    assert (summary["quantity"], summary["recordCount"], summary["amount"]) == ("13", 3, "26.00")
    await bill(client, server, "2026-02-01")
    [[line]] = await invoice_lines(client, owner)
    assert line["amount"] == "26.00"


async def test_records_are_refused_one_by_one_naming_the_field(client: Client) -> None:
    _, sub = await metered(client)
    await client.gql('mutation { createProduct(input: {code: "OTHER", name: "O"}) { id } }')
    results = await record(
        client,
        usage_record("ok", sub, "GB", "1.5", "2026-01-02T00:00:00Z"),
        usage_record("no-sub", "S99999999", "GB", "1", "2026-01-02T00:00:00Z"),
        usage_record("not-usage", sub, "OTHER", "1", "2026-01-02T00:00:00Z"),
        usage_record("before", sub, "GB", "1", "2025-12-31T23:59:59Z"),
        usage_record("negative", sub, "GB", "-1", "2026-01-02T00:00:00Z"),
        usage_record("", sub, "GB", "1", "2026-01-02T00:00:00Z"))
    assert results[0]["accepted"] and not results[0]["errors"]
    assert [(e["code"], e["field"]) for r in results[1:] for e in r["errors"]] == [
        ("NOT_FOUND", "records[1].subscriptionNumber"),
        ("BAD_USER_INPUT", "records[2].productCode"),
        ("BAD_USER_INPUT", "records[3].timestamp"),
        ("BAD_USER_INPUT", "records[4].quantity"),
        ("BAD_USER_INPUT", "records[5].recordId")]
    assert not any(r["accepted"] or r["duplicate"] for r in results[1:])
    error = await client.error(RECORD, {"r": [usage_record(f"r{n}", sub, "GB", "1",
                                                           "2026-01-02T00:00:00Z")
                                              for n in range(10_001)]})
    assert (error["extensions"]["code"], error["extensions"]["field"]) == (
        "BAD_USER_INPUT", "records")


async def test_usage_summaries_take_the_same_statements_for_2_or_20_subscriptions(
        server: LiveServer) -> None:
    from tests.support import start_server

    query = """query { accounts(first: 50) { edges { node { subscriptions(first: 50) { edges {
      node { usage(from: "2026-01-01", to: "2026-02-28") { product { code } quantity amount
        billed subscription { subscriptionNumber } } } } } } } } }"""
    async with start_server(server.database_url, run_workers=False,
                            expose_sql_count=True) as live:
        counts = []
        for n in (2, 20):
            async with live.new_tenant(f"usage-{n}") as client:
                await priced_plan(client, "METERED", *USAGE_CHARGES[:2])
                owner = await account(client, "Owner")
                for i in range(n):
                    sub = await subscribe(client, owner, "2026-01-01", plan_code="METERED",
                                          items=[{"productCode": "GB"}, {"productCode": "PEAK"}])
                    await record(client, usage_record(f"r{i}", sub["subscriptionNumber"], "GB",
                                                      "1", "2026-01-02T00:00:00Z"))
                response = await client.post(query)
                body = response.json()
                assert "errors" not in body, body
                [edge] = body["data"]["accounts"]["edges"]
                summaries = [s for e in edge["node"]["subscriptions"]["edges"]
                             for s in e["node"]["usage"]]
                # 2 items × 2 periods per subscription; GB in January: 1 × 2.00
                assert len(summaries) == 4 * n
                assert sum(s["amount"] == "2.00" for s in summaries) == n
                counts.append(body["extensions"]["sqlStatements"])
        assert counts[0] == counts[1]


async def test_two_concurrent_runs_bill_usage_exactly_once(client: Client,
                                                           server: LiveServer) -> None:
    await priced_plan(client, "METERED", USAGE_CHARGES[0])
    owners = [await account(client, f"Owner {n}") for n in range(6)]
    for n, owner in enumerate(owners):
        sub = await subscribe(client, owner, "2026-01-01", plan_code="METERED",
                              items=[{"productCode": "GB"}])
        await record(client, usage_record(f"r{n}", sub["subscriptionNumber"], "GB", "5",
                                          "2026-01-10T00:00:00Z"))
    first, second = await start(client, "2026-02-01"), await start(client, "2026-02-01")
    async with worker_state(server) as state:
        jobs = await claim_jobs(state, 2, client.tenant_id)
        await asyncio.gather(*(run_job(state, job, job_kinds()) for job in jobs))
    runs = [await get(client, first["id"]), await get(client, second["id"])]
    assert [r["status"] for r in runs] == ["COMPLETED", "COMPLETED"]
    # 5 GB × 2.00 = 10.00 per owner, billed once across both runs: 6 × 10.00 = 60.00
    assert sum(r["invoicesCreated"] for r in runs) == 6
    assert sum(Decimal(r["totalAmount"]) for r in runs) == Decimal("60.00")
    entries = await ledger(server, client.tenant_id)
    assert len(entries) == 6 and {e["revision"] for e in entries} == {1}
