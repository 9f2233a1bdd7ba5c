"""Recurring charges under every pricing model, through plans, orders and bill runs
(SPEC §11, §6): amounts worked out by hand in the comments."""

from __future__ import annotations

from typing import Any

from tests.api.bill_run_support import account, bill, order, subscribe
from tests.api.pricing_support import SEAT_TIERS, billed, invoice_lines, priced_plan
from tests.support import Client, LiveServer

TIERED_SEAT = {"productCode": "SEAT", "chargeType": "RECURRING", "price": "0",
               "pricingModel": "TIERED", "tiers": SEAT_TIERS}


async def mrr(client: Client, account_id: str) -> str:
    data = await client.gql("query($id: ID!) { metrics(accountId: $id) { contractedMrr } }",
                            {"id": account_id})
    return str(data["metrics"]["contractedMrr"])


async def seats(client: Client, owner: str, start: str, quantity: int, **terms: Any) -> str:
    sub = await subscribe(client, owner, start, items=[{"productCode": "SEAT",
                                                        "quantity": quantity}], **terms)
    return str(sub["subscriptionNumber"])


async def test_tiered_120_seats_monthly_quarterly_and_prorated(client: Client,
                                                                server: LiveServer) -> None:
    plan = await priced_plan(client, "PLAN", TIERED_SEAT)
    assert plan["charges"][0]["pricingModel"] == "TIERED"
    assert plan["charges"][0]["tiers"] == [
        {"upTo": "100", "unitPrice": "10.00", "flatFee": "0"},
        {"upTo": None, "unitPrice": "8.00", "flatFee": "50.00"}]
    monthly, quarterly, late = [await account(client, n) for n in ("M", "Q", "P")]
    await seats(client, monthly, "2026-01-01", 120)
    await seats(client, quarterly, "2026-01-01", 120, frequency="QUARTERLY")
    await seats(client, late, "2026-01-10", 120)
    # MRR is the model amount normalized to a month: 100 × 10 + 20 × 8 + 50 = 1210.00
    assert await mrr(client, monthly) == "1210.00"
    assert await mrr(client, quarterly) == "1210.00"
    await bill(client, server, "2026-01-31")
    [[m]] = await invoice_lines(client, monthly)
    # monthly: 100 × 10.00 + 20 × 8.00 + 50.00 = 1210.00
    assert billed([m]) == [("SEAT", "2026-01-01", "2026-01-31", "1210.00")]
    assert (m["chargeType"], m["pricingModel"], m["quantity"]) == ("RECURRING", "TIERED", "120")
    # unit price shown: the average, 1210 / 120 = 10.0833 -> 10.08
    assert m["unitPrice"] == "10.08"
    [[q]] = await invoice_lines(client, quarterly)
    # quarterly: the monthly model amount × 3 = 3630.00 for Jan 1 .. Mar 31
    assert billed([q]) == [("SEAT", "2026-01-01", "2026-03-31", "3630.00")]
    [[p]] = await invoice_lines(client, late)
    # from the 10th of January (31 days): Jan 10..31 = 22 days, 1210 × 22/31 = 858.7097 -> 858.71
    assert billed([p]) == [("SEAT", "2026-01-10", "2026-01-31", "858.71")]


async def test_tiered_quantity_change_mid_period_and_the_self_correcting_credit(
        client: Client, server: LiveServer) -> None:
    await priced_plan(client, "PLAN", TIERED_SEAT)
    owner = await account(client, "Owner")
    number = await seats(client, owner, "2026-01-01", 120)
    await bill(client, server, "2026-01-01")
    sub = await order(client, owner, number, {
        "type": "UPDATE_PRODUCT", "effectiveDate": "2026-01-17",
        "itemId": (await client.gql("query($n: String!) { subscription(subscriptionNumber: $n) "
                                    "{ items { id } } }", {"n": number})
                   )["subscription"]["items"][0]["id"],
        "item": {"productCode": "SEAT", "quantity": 130}})
    assert len(sub["items"]) == 2
    # 130 seats: 100 × 10 + 30 × 8 + 50 = 1290.00 a month
    assert await mrr(client, owner) == "1290.00"
    await bill(client, server, "2026-01-31")
    first, second = await invoice_lines(client, owner)
    assert billed(first) == [("SEAT", "2026-01-01", "2026-01-31", "1210.00")]
    assert sorted(billed(second)) == sorted([
        # the 120 seats served Jan 1..16: 1210 × 16/31 = 624.5161 -> 624.52; billed 1210.00:
        # credit 624.52 − 1210.00 = −585.48 for Jan 17..31
        ("SEAT", "2026-01-17", "2026-01-31", "-585.48"),
        # the 130 seats from Jan 17: 15/31 of 1290 = 624.1935 -> 624.19
        ("SEAT", "2026-01-17", "2026-01-31", "624.19"),
    ])
    # billing again finds nothing new
    run = await bill(client, server, "2026-01-31")
    assert run["invoicesCreated"] == 0


async def test_volume_at_the_tier_boundary(client: Client, server: LiveServer) -> None:
    await priced_plan(client, "PLAN", {**TIERED_SEAT, "pricingModel": "VOLUME"})
    hundred, hundred_one = await account(client, "100"), await account(client, "101")
    await seats(client, hundred, "2026-01-01", 100)
    await seats(client, hundred_one, "2026-01-01", 101)
    # 100: every unit in the first tier, 100 × 10.00 = 1000.00
    assert await mrr(client, hundred) == "1000.00"
    # 101: every unit in the second tier, 101 × 8.00 + 50.00 = 858.00 (volume pricing falls)
    assert await mrr(client, hundred_one) == "858.00"
    await bill(client, server, "2026-01-01")
    assert billed((await invoice_lines(client, hundred))[0]) == [
        ("SEAT", "2026-01-01", "2026-01-31", "1000.00")]
    [[line]] = await invoice_lines(client, hundred_one)
    assert billed([line]) == [("SEAT", "2026-01-01", "2026-01-31", "858.00")]
    assert line["pricingModel"] == "VOLUME"


async def test_flat_fee_package_and_per_unit_recurring(client: Client,
                                                        server: LiveServer) -> None:
    await priced_plan(
        client, "PLAN",
        {"productCode": "SUPPORT", "chargeType": "RECURRING", "price": "99.00",
         "pricingModel": "FLAT_FEE"},
        {"productCode": "STORAGE", "chargeType": "RECURRING", "price": "5.00",
         "pricingModel": "PACKAGE", "packageSize": 100},
        {"productCode": "SEAT", "chargeType": "RECURRING", "price": "10.00"})
    owner = await account(client, "Owner")
    await subscribe(client, owner, "2026-01-01", items=[
        {"productCode": "SUPPORT", "quantity": 7}, {"productCode": "STORAGE", "quantity": 250},
        {"productCode": "SEAT", "quantity": 3}])
    # 99.00 (flat, whatever the 7) + 5.00 × ⌈250/100⌉ = 15.00 + 3 × 10.00 = 30.00 → 144.00
    assert await mrr(client, owner) == "144.00"
    await bill(client, server, "2026-01-01")
    [lines] = await invoice_lines(client, owner)
    assert sorted(billed(lines)) == [("SEAT", "2026-01-01", "2026-01-31", "30.00"),
                                     ("STORAGE", "2026-01-01", "2026-01-31", "15.00"),
                                     ("SUPPORT", "2026-01-01", "2026-01-31", "99.00")]
    by_product = {ln["product"]["code"]: ln for ln in lines}
    # PER_UNIT lines keep today's unit price; the others show the average
    assert by_product["SEAT"]["unitPrice"] == "10.00"
    assert by_product["STORAGE"]["unitPrice"] == "0.06"  # 15 / 250 = 0.06
    assert {ln["pricingModel"] for ln in lines} == {"FLAT_FEE", "PACKAGE", "PER_UNIT"}


async def test_invalid_pricing_names_the_field(client: Client) -> None:
    await client.gql('mutation { createProduct(input: {code: "SEAT", name: "Seat"}) { id } }')
    mutation = ("mutation($i: CreatePricePlanInput!) { createPricePlan(input: $i) { id } }")

    async def refused(**charge: Any) -> tuple[str, str]:
        error = await client.error(mutation, {"i": {"code": "P", "name": "P", "charges": [
            {"productCode": "SEAT", "chargeType": "RECURRING", "price": "1", **charge}]}})
        return error["extensions"]["code"], error["extensions"]["field"]

    bad = "BAD_USER_INPUT"
    tiers = [{"upTo": "10", "unitPrice": "1"}, {"upTo": "20", "unitPrice": "1"},
             {"upTo": "15", "unitPrice": "1"}, {"upTo": None, "unitPrice": "1"}]
    assert await refused(pricingModel="TIERED", tiers=tiers) == (
        bad, "charges[0].tiers[2].upTo")  # not ascending
    assert await refused(pricingModel="VOLUME", tiers=tiers[:2]) == (
        bad, "charges[0].tiers[1].upTo")  # no open last tier
    assert await refused(pricingModel="TIERED", tiers=[{"unitPrice": "-1"}]) == (
        bad, "charges[0].tiers[0].unitPrice")
    assert await refused(pricingModel="TIERED") == (bad, "charges[0].tiers")
    assert await refused(tiers=[{"unitPrice": "1"}]) == (bad, "charges[0].tiers")
    assert await refused(pricingModel="PACKAGE") == (bad, "charges[0].packageSize")
    assert await refused(pricingModel="PACKAGE", packageSize=0) == (
        bad, "charges[0].packageSize")
    assert await refused(packageSize=10) == (bad, "charges[0].packageSize")
    assert await refused(usageAggregation="MAX") == (bad, "charges[0].usageAggregation")
    assert await refused(unitOfMeasure="GB") == (bad, "charges[0].unitOfMeasure")
    assert await refused(price="-1") == (bad, "charges[0].price")
    plans = await client.gql("{ pricePlans { code } }")
    assert plans["pricePlans"] == []  # nothing half-written
