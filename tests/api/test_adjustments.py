"""Discounts and taxes through bill runs (SPEC §12): every amount worked out by hand."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from billgraph.bootstrap import job_kinds
from billgraph.workers.jobs import run_job
from tests.api.adjustment_support import (
    adjusted,
    apply,
    detailed,
    discount,
    tax_rate,
    taxes,
    totals,
)
from tests.api.bill_run_support import (
    account,
    bill,
    claim_jobs,
    get,
    ledger,
    order,
    plan,
    start,
    subscribe,
    worker_state,
)
from tests.support import Client, LiveServer

GERMANY = {"billingAddress": {"country": "DE", "region": "BY", "city": "München"}}


@pytest.fixture
async def catalog(client: Client) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
               ("SUPPORT", "RECURRING", "30.00", "MONTHLY"))


async def test_percentage_for_three_periods_starting_mid_period(
        client: Client, server: LiveServer, catalog: None) -> None:
    twenty = await discount(client, "P20", "PERCENTAGE", "20", durationPeriods=3,
                            productCodes=["SEAT"])
    assert (twenty["durationPeriods"], twenty["productCodes"]) == (3, ["SEAT"])
    seats: list[dict[str, Any]] = [{"productCode": "SEAT", "quantity": 3},
                                   {"productCode": "SUPPORT"}]
    # A: subscription from Jan 1, discount from Jan 16
    a = await account(client, "A")
    sub_a = await subscribe(client, a, "2026-01-01", items=seats)
    applied = await apply(client, sub_a["subscriptionNumber"], "P20", "2026-01-16")
    # Jan (partial, the first of 3), Feb, Mar: it ends on Mar 31
    assert (applied["startDate"], applied["endDate"]) == ("2026-01-16", "2026-03-31")
    # B: subscription (and discount) from Jan 16: the first period itself is partial
    b = await account(client, "B")
    sub_b = await subscribe(client, b, "2026-01-16", items=seats)
    assert (await apply(client, sub_b["subscriptionNumber"], "P20"))["endDate"] == "2026-03-31"
    await bill(client, server, "2026-04-01")
    [inv_a] = await detailed(client, a)
    assert adjusted(inv_a)[:4] == [
        # 3 x 10.00 = 30.00; 20 % for Jan 16..31 = 16 of 31 days: 6.00 x 16/31 = 3.097 -> 3.10
        ("2026-01-01", "30.00", "3.10", "0.00"),
        ("2026-02-01", "30.00", "6.00", "0.00"),   # 20 % of 30.00
        ("2026-03-01", "30.00", "6.00", "0.00"),
        ("2026-04-01", "30.00", "0.00", "0.00"),      # the fourth period: full price
    ]
    # SUPPORT is not discounted (productCodes: SEAT); 4 x (30 + 30) = 240.00, less 15.10
    assert totals(inv_a) == ("240.00", "15.10", "0.00", "224.90")
    [inv_b] = await detailed(client, b)
    assert adjusted(inv_b)[:4] == [
        # Jan 16..31: 30.00 x 16/31 = 15.4839 -> 15.48; 20 % = 3.096 -> 3.10
        ("2026-01-16", "15.48", "3.10", "0.00"),
        ("2026-02-01", "30.00", "6.00", "0.00"),
        ("2026-03-01", "30.00", "6.00", "0.00"),
        ("2026-04-01", "30.00", "0.00", "0.00"),
    ]
    # SUPPORT: 15.48 + 3 x 30.00; SEAT the same: 2 x 105.48 = 210.96, less 15.10
    assert totals(inv_b) == ("210.96", "15.10", "0.00", "195.86")


async def test_fixed_amount_spread_in_proportion_and_never_below_zero(
        client: Client, server: LiveServer, catalog: None) -> None:
    await discount(client, "F15", "FIXED_AMOUNT", "15.00")
    await discount(client, "F50", "FIXED_AMOUNT", "50.00")
    both = [{"productCode": "SEAT"}, {"productCode": "SUPPORT"}]
    spread, over = await account(client, "Spread"), await account(client, "Over")
    sub = await subscribe(client, spread, "2026-01-01", items=both)
    await apply(client, sub["subscriptionNumber"], "F15")
    sub = await subscribe(client, over, "2026-01-01", items=both)
    await apply(client, sub["subscriptionNumber"], "F50")
    await bill(client, server, "2026-01-01")
    [inv] = await detailed(client, spread)
    # 15.00 over 10.00 and 30.00: 15 x 10/40 = 3.75 and 15 x 30/40 = 11.25
    assert adjusted(inv) == [("2026-01-01", "10.00", "3.75", "0.00"),
                             ("2026-01-01", "30.00", "11.25", "0.00")]
    assert totals(inv) == ("40.00", "15.00", "0.00", "25.00")
    [inv] = await detailed(client, over)
    # 50.00 > 40.00: each line goes to 0, not below
    assert adjusted(inv) == [("2026-01-01", "10.00", "10.00", "0.00"),
                             ("2026-01-01", "30.00", "30.00", "0.00")]
    assert totals(inv) == ("40.00", "40.00", "0.00", "0.00")


async def test_fixed_amount_is_prorated_in_a_partial_period(
        client: Client, server: LiveServer, catalog: None) -> None:
    await discount(client, "F15", "FIXED_AMOUNT", "15.00", durationPeriods=1)
    owner = await account(client, "Partial")
    sub = await subscribe(client, owner, "2026-01-17",
                          items=[{"productCode": "SEAT"}, {"productCode": "SUPPORT"}])
    await apply(client, sub["subscriptionNumber"], "F15")
    await bill(client, server, "2026-02-01")
    [inv] = await detailed(client, owner)
    assert adjusted(inv) == [
        # Jan 17..31 = 15 of 31 days: 10 x 15/31 = 4.84, 30 x 15/31 = 14.52; the fixed
        # 15.00 x 15/31 = 7.258 -> 7.26, spread 7.26 x 4.84/19.36 = 1.815 -> 1.82 and
        # 7.26 x 14.52/19.36 = 5.445 -> 5.45; 1.82 + 5.45 = 7.27: the -0.01 remainder goes
        # to the largest line: 5.44
        ("2026-01-17", "4.84", "1.82", "0.00"),
        ("2026-02-01", "10.00", "0.00", "0.00"),  # durationPeriods 1: February is full price
        ("2026-01-17", "14.52", "5.44", "0.00"),
        ("2026-02-01", "30.00", "0.00", "0.00"),
    ]


async def test_country_and_region_rates_on_a_discounted_line(
        client: Client, server: LiveServer) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "33.33", "MONTHLY"),
               ("SUPPORT", "RECURRING", "30.00", "MONTHLY"))
    await discount(client, "P20", "PERCENTAGE", "20", productCodes=["SEAT"])
    await tax_rate(client, "DE-VAT", "19", "DE")
    await tax_rate(client, "DE-BY", "2.5", "DE", "BY")
    await tax_rate(client, "DE-SUPPORT", "1", "DE", productCodes=["SUPPORT"])
    await tax_rate(client, "DE-BE", "3", "DE", "BE")  # another region: not applied
    await tax_rate(client, "FR-VAT", "20", "FR")  # another country: not applied
    gone = await tax_rate(client, "DE-OLD", "7", "DE")
    await client.gql("mutation($id: ID!) { deactivateTaxRate(id: $id) { active } }",
                     {"id": gone["id"]})
    owner = await account(client, "Bavarian", **GERMANY)
    sub = await subscribe(client, owner, "2026-01-01",
                          items=[{"productCode": "SEAT"}, {"productCode": "SUPPORT"}])
    await apply(client, sub["subscriptionNumber"], "P20")
    await bill(client, server, "2026-01-01")
    [inv] = await detailed(client, owner)
    seat, support = inv["lines"]
    # SEAT 33.33, 20 % = 6.666 -> 6.67, net 26.66: 19 % = 5.0654 -> 5.07,
    # 2.5 % = 0.6665 -> 0.67 (each rounded on its own): 5.74
    assert (seat["amount"], seat["discountAmount"], seat["taxAmount"]) == ("33.33", "6.67",
                                                                           "5.74")
    assert taxes(seat) == [("DE-BY", "2.5", "0.67"), ("DE-VAT", "19", "5.07")]
    # SUPPORT 30.00 undiscounted: 19 % = 5.70, 2.5 % = 0.75, 1 % (its product) = 0.30
    assert taxes(support) == [("DE-BY", "2.5", "0.75"), ("DE-SUPPORT", "1", "0.30"),
                              ("DE-VAT", "19", "5.70")]
    # 63.33 - 6.67 + (5.74 + 6.75) = 69.15
    assert totals(inv) == ("63.33", "6.67", "12.49", "69.15")
    metrics = await client.gql("query($id: ID!) { account(id: $id) { billingAddress { country "
                               "region city } taxExempt metrics { balance totalInvoiceBalance } "
                               "} }", {"id": owner})
    assert metrics["account"]["billingAddress"] == {"country": "DE", "region": "BY",
                                                    "city": "München"}
    assert metrics["account"]["metrics"] == {"balance": "69.15", "totalInvoiceBalance": "69.15"}


async def test_exempt_and_address_less_owners_pay_no_tax(
        client: Client, server: LiveServer, catalog: None) -> None:
    await tax_rate(client, "DE-VAT", "19", "DE")
    exempt = await account(client, "Exempt", taxExempt=True, **GERMANY)
    nowhere = await account(client, "No address")
    for owner in (exempt, nowhere):
        await subscribe(client, owner, "2026-01-01", items=[{"productCode": "SEAT"}])
    await bill(client, server, "2026-01-01")
    for owner in (exempt, nowhere):
        [inv] = await detailed(client, owner)
        assert totals(inv) == ("10.00", "0.00", "0.00", "10.00")
        assert inv["lines"][0]["taxes"] == []


async def test_credit_of_a_removed_item_reverses_charge_discount_and_tax(
        client: Client, server: LiveServer, catalog: None) -> None:
    await discount(client, "P20", "PERCENTAGE", "20")
    await tax_rate(client, "DE-VAT", "19", "DE")
    region = await tax_rate(client, "DE-BY", "2.5", "DE", "BY")
    owner = await account(client, "Customer", **GERMANY)
    sub = await subscribe(client, owner, "2026-01-01",
                          items=[{"productCode": "SEAT", "quantity": 3}])
    await apply(client, sub["subscriptionNumber"], "P20")
    await bill(client, server, "2026-01-01")
    # 30.00, 20 % = 6.00, net 24.00: 19 % = 4.56, 2.5 % = 0.60: 30 - 6 + 5.16 = 29.16
    [first] = await detailed(client, owner)
    assert totals(first) == ("30.00", "6.00", "5.16", "29.16")
    # rates change after January was posted: the region rate goes, a new one comes
    await client.gql("mutation($id: ID!) { deactivateTaxRate(id: $id) { id } }",
                     {"id": region["id"]})
    await tax_rate(client, "DE-NEW", "5", "DE")
    await order(client, owner, sub["subscriptionNumber"], {
        "type": "REMOVE_PRODUCT", "effectiveDate": "2026-01-21",
        "itemId": sub["items"][0]["id"]})
    run = await bill(client, server, "2026-01-31")
    first, credit = await detailed(client, owner)
    assert totals(first) == ("30.00", "6.00", "5.16", "29.16")  # posted: untouched
    # January keeps Jan 1..20: 30 x 20/31 = 19.35, credit -10.65; its discount is the
    # share January carried, 6.00 x 19.35/30 = 3.87: -2.13; its tax at the rates it was
    # taxed with, on 15.48: 19 % = 2.94 (-1.62), 2.5 % = 0.39 (-0.21); DE-NEW not at all
    [line] = credit["lines"]
    assert (line["servicePeriodStart"], line["servicePeriodEnd"]) == ("2026-01-21",
                                                                      "2026-01-31")
    assert (line["amount"], line["discountAmount"], line["taxAmount"]) == ("-10.65", "-2.13",
                                                                           "-1.83")
    assert taxes(line) == [("DE-BY", "2.5", "-0.21"), ("DE-VAT", "19", "-1.62")]
    # -10.65 + 2.13 - 1.83 = -10.35; 29.16 - 10.35 = 18.81 = 19.35 - 3.87 + 2.94 + 0.39
    assert totals(credit) == ("-10.65", "-2.13", "-1.83", "-10.35")
    assert run["totalAmount"] == "-10.35"
    metrics = await client.gql("query($id: ID!) { account(id: $id) { metrics { balance } } }",
                               {"id": owner})
    assert metrics["account"]["metrics"]["balance"] == "18.81"


async def test_a_jpy_account_rounds_to_whole_yen(client: Client, server: LiveServer) -> None:
    await plan(client, "YEN", ("SEAT", "RECURRING", "1000", "MONTHLY"), currency="JPY")
    await discount(client, "P15", "PERCENTAGE", "15")
    await tax_rate(client, "JP-CT", "10", "JP")
    owner = await account(client, "Tokyo", currency="JPY", billingAddress={"country": "JP"})
    sub = await subscribe(client, owner, "2026-01-10", plan_code="YEN",
                          items=[{"productCode": "SEAT"}])
    await apply(client, sub["subscriptionNumber"], "P15")
    await bill(client, server, "2026-02-01")
    [inv] = await detailed(client, owner)
    assert adjusted(inv) == [
        # Jan 10..31 = 22 of 31 days: 1000 x 22/31 = 709.7 -> 710; 15 % = 106.5 -> 107;
        # tax 10 % of 603 = 60.3 -> 60
        ("2026-01-10", "710", "107", "60"),
        # 1000, 15 % = 150, 10 % of 850 = 85
        ("2026-02-01", "1000", "150", "85"),
    ]
    # 1710 - 257 + 145 = 1598
    assert totals(inv) == ("1710", "257", "145", "1598")


async def test_bill_runs_stay_exactly_once_with_discounts_and_taxes(
        client: Client, server: LiveServer, catalog: None) -> None:
    await discount(client, "F15", "FIXED_AMOUNT", "15.00")
    await tax_rate(client, "DE-VAT", "19", "DE")
    owners = [await account(client, f"Owner {n}", **GERMANY) for n in range(6)]
    for owner in owners:
        sub = await subscribe(client, owner, "2026-01-01",
                              items=[{"productCode": "SEAT"}, {"productCode": "SUPPORT"}])
        await apply(client, sub["subscriptionNumber"], "F15")
    first, second = await start(client, "2026-02-01"), await start(client, "2026-02-01")
    async with worker_state(server) as state:
        jobs = await claim_jobs(state, 2, client.tenant_id)
        await asyncio.gather(*(run_job(state, job, job_kinds()) for job in jobs))
    runs = [await get(client, first["id"]), await get(client, second["id"])]
    # per owner and month: 40.00 - 15.00 = 25.00 net; 19 % of SEAT's 10 - 3.75 = 6.25
    # (1.1875 -> 1.19) and of SUPPORT's 30 - 11.25 = 18.75 (3.5625 -> 3.56): 4.75 tax,
    # 29.75 a month; January and February: 59.50 per owner
    assert sum(r["invoicesCreated"] for r in runs) == 6
    assert sum(Decimal(r["totalAmount"]) for r in runs) == 6 * Decimal("59.50")
    entries = await ledger(server, client.tenant_id)
    assert Counter((e["item_id"], e["period_start"]) for e in entries).most_common(1)[0][1] == 1
    again = await bill(client, server, "2026-02-01")
    assert again["invoicesCreated"] == 0 and Decimal(again["totalAmount"]) == 0
    for owner in owners:
        [inv] = await detailed(client, owner)
        # two months of 29.75
        assert totals(inv) == ("80.00", "30.00", "9.50", "59.50")
