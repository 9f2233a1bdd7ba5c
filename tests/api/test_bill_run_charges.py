"""What bill runs invoice, end to end through orders: amounts worked out by hand."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.bill_run_support import account, bill, invoices, lines, order, plan, subscribe
from tests.support import Client, LiveServer

REPORT = """mutation($n: String!, $d: Date!, $u: Int!) {
  reportConcurrentUsage(subscriptionNumber: $n, usageDate: $d, concurrentUsage: $u) }"""


def amounts(invoice: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(s, e, a) for _, s, e, a in lines(invoice)]


@pytest.fixture
async def seat(client: Client) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
               ("SETUP", "ONE_TIME", "50.00", "MONTHLY"))


async def test_a_reseller_gets_one_invoice_for_its_end_users_at_every_frequency(
        client: Client, server: LiveServer, seat: None) -> None:
    await client.gql('mutation { updateTenantSettings(input: {customPeriods: '
                     '[{name: "CUSTOM1", unit: "MONTH", count: 2}]}) { id } }')
    reseller = await account(client, "Reseller", partnerAccount=True)
    users = [await account(client, f"User {n}") for n in range(4)]
    seat_only = [{"productCode": "SEAT"}]
    monthly = await subscribe(client, users[0], "2026-01-01", invoice_owner=reseller,
                              items=seat_only)
    quarterly = await subscribe(client, users[1], "2026-01-10", invoice_owner=reseller,
                                frequency="QUARTERLY", items=seat_only)
    weekly = await subscribe(client, users[2], "2026-01-14", invoice_owner=reseller,
                             frequency="WEEKLY", items=seat_only)
    custom = await subscribe(client, users[3], "2026-01-01", invoice_owner=reseller,
                             frequency="CUSTOM1", items=seat_only)
    run = await bill(client, server, "2026-01-31")
    assert (run["accountsTotal"], run["invoicesCreated"], run["totalAmount"]) == (1, 1, "44.10")
    for user in users:
        assert await invoices(client, user) == []
    [invoice] = await invoices(client, reseller)
    numbers = [s["subscriptionNumber"] for s in (monthly, quarterly, weekly, custom)]
    assert lines(invoice) == [
        # monthly 10.00, cycle day 1: January
        (f"Seat ({numbers[0]})", "2026-01-01", "2026-01-31", "10.00"),
        # quarterly = 30.00 a period; the quarter Nov 1..Jan 31 has 30+31+31 = 92 days, the
        # item serves Jan 10..31 = 22 of them: 30 x 22/92 = 7.1739 -> 7.17
        (f"Seat ({numbers[1]})", "2026-01-10", "2026-01-31", "7.17"),
        # weekly = 10 x 12/52 = 2.3077 -> 2.31 a week, from the start: Jan 14, 21, 28
        (f"Seat ({numbers[2]})", "2026-01-14", "2026-01-20", "2.31"),
        (f"Seat ({numbers[2]})", "2026-01-21", "2026-01-27", "2.31"),
        (f"Seat ({numbers[2]})", "2026-01-28", "2026-02-03", "2.31"),
        # CUSTOM1 = 2 months: 20.00 a period, Jan 1..Feb 28
        (f"Seat ({numbers[3]})", "2026-01-01", "2026-02-28", "20.00"),
    ]
    # 10.00 + 7.17 + 3 x 2.31 + 20.00 = 44.10
    assert (invoice["amount"], invoice["status"]) == ("44.10", "POSTED")
    # a partner account: posting marks its metrics stale for the refresher
    stale = await client.gql("query($id: ID!) { metrics(accountId: $id) { stale } }",
                             {"id": reseller})
    assert stale["metrics"]["stale"] is True


async def test_a_product_added_mid_quarter_is_co_termed(
        client: Client, server: LiveServer) -> None:
    await plan(client, "Q", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
               ("DESK", "RECURRING", "4.50", "MONTHLY"))
    customer = await account(client, "Customer")
    sub = await subscribe(client, customer, "2026-01-01", plan_code="Q", frequency="QUARTERLY",
                          items=[{"productCode": "SEAT"}])
    number = sub["subscriptionNumber"]
    await order(client, customer, number, {"type": "ADD_PRODUCT", "effectiveDate": "2026-02-16",
                                           "item": {"productCode": "DESK"}})
    run = await bill(client, server, "2026-04-01")
    [invoice] = await invoices(client, customer)
    assert lines(invoice) == [
        # the subscription's quarters: 3 x 10.00 = 30.00 each
        (f"Seat ({number})", "2026-01-01", "2026-03-31", "30.00"),
        (f"Seat ({number})", "2026-04-01", "2026-06-30", "30.00"),
        # the desk bills the rest of the first quarter: 3 x 4.50 = 13.50 a quarter, Feb 16
        # to Mar 31 is 13 + 31 = 44 of 90 days: 13.50 x 44/90 = 6.60; then with the seat
        (f"Desk ({number})", "2026-02-16", "2026-03-31", "6.60"),
        (f"Desk ({number})", "2026-04-01", "2026-06-30", "13.50"),
    ]
    assert run["totalAmount"] == invoice["amount"] == "80.10"


async def test_cycle_day_31_across_february(client: Client, server: LiveServer) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "31.00", "MONTHLY"))
    customer = await account(client, "Customer")
    await subscribe(client, customer, "2026-02-15", cycle_day=31)
    await bill(client, server, "2026-03-31")
    [invoice] = await invoices(client, customer)
    assert amounts(invoice) == [
        # the whole period Jan 31..Feb 27 has 28 days; Feb 15..27 is 13: 31 x 13/28 = 14.39
        ("2026-02-15", "2026-02-27", "14.39"),
        # day 31 clamps to Feb 28, then comes back on Mar 31
        ("2026-02-28", "2026-03-30", "31.00"),
        ("2026-03-31", "2026-04-29", "31.00"),
    ]
    assert invoice["amount"] == "76.39"


async def test_remove_product_inside_a_billed_period_is_credited_next_run(
        client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    sub = await subscribe(client, customer, "2026-01-01",
                          items=[{"productCode": "SEAT", "price": "30.00"}])
    await bill(client, server, "2026-02-01")  # January and February: 60.00
    await order(client, customer, sub["subscriptionNumber"], {
        "type": "REMOVE_PRODUCT", "effectiveDate": "2026-02-15",
        "itemId": sub["items"][0]["id"]})
    run = await bill(client, server, "2026-03-01")
    assert (run["invoicesCreated"], run["totalAmount"]) == (1, "-15.00")
    credit = (await invoices(client, customer))[-1]
    # February keeps 30 x 14/28 = 15.00 (Feb 1..14); Feb 15..28 is credited; March is
    # not billed at all
    assert lines(credit) == [(f"Credit: Seat ({sub['subscriptionNumber']})",
                              "2026-02-15", "2026-02-28", "-15.00")]
    assert (credit["amount"], credit["balance"], credit["status"]) == ("-15.00", "-15.00",
                                                                       "POSTED")
    balance = await client.gql("query($id: ID!) { metrics(accountId: $id) { balance } }",
                               {"id": customer})
    assert balance["metrics"]["balance"] == "45.00"
    assert (await bill(client, server, "2026-04-01"))["invoicesCreated"] == 0


async def test_update_product_mid_period(client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    sub = await subscribe(client, customer, "2026-01-01",
                          items=[{"productCode": "SEAT", "price": "31.00"}])
    number = sub["subscriptionNumber"]
    await bill(client, server, "2026-01-01")  # January: 31.00
    await order(client, customer, number, {
        "type": "UPDATE_PRODUCT", "effectiveDate": "2026-01-16",
        "itemId": sub["items"][0]["id"], "item": {"productCode": "SEAT", "quantity": 2}})
    await bill(client, server, "2026-02-01")
    second = (await invoices(client, customer))[-1]
    assert lines(second) == [
        # the old item ends on Jan 16 (exclusive): it keeps 31 x 15/31 = 15.00 of 31.00
        (f"Credit: Seat ({number})", "2026-01-16", "2026-01-31", "-16.00"),
        # its successor (2 seats, 62.00 a month) serves Jan 16..31: 62 x 16/31 = 32.00
        (f"Seat ({number})", "2026-01-16", "2026-01-31", "32.00"),
        (f"Seat ({number})", "2026-02-01", "2026-02-28", "62.00"),
    ]
    assert second["amount"] == "78.00"


async def test_owner_transfer_sends_later_periods_to_the_new_invoice_owner(
        client: Client, server: LiveServer, seat: None) -> None:
    user = await account(client, "End user")
    first, second = await account(client, "First reseller"), await account(client, "Second")
    sub = await subscribe(client, user, "2026-01-01", invoice_owner=first,
                          items=[{"productCode": "SEAT"}])
    await order(client, user, sub["subscriptionNumber"], {
        "type": "OWNER_TRANSFER", "effectiveDate": "2026-02-15",
        "newInvoiceOwnerAccountId": second})
    run = await bill(client, server, "2026-03-01")
    assert (run["accountsTotal"], run["invoicesCreated"], run["totalAmount"]) == (2, 2, "30.00")
    # the period that started Feb 1 stays with the first reseller; March goes to the second
    [old] = await invoices(client, first)
    assert amounts(old) == [("2026-01-01", "2026-01-31", "10.00"),
                            ("2026-02-01", "2026-02-28", "10.00")]
    [new] = await invoices(client, second)
    assert amounts(new) == [("2026-03-01", "2026-03-31", "10.00")]
    assert await invoices(client, user) == []


async def test_one_time_charges_bill_once(client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    sub = await subscribe(client, customer, "2026-01-10")  # SEAT and SETUP
    number = sub["subscriptionNumber"]
    await bill(client, server, "2026-01-10")
    [first] = await invoices(client, customer)
    assert lines(first) == [
        # Jan 10..31 is 22 of January's 31 days: 10.00 x 22/31 = 7.0967 -> 7.10
        (f"Seat ({number})", "2026-01-10", "2026-01-31", "7.10"),
        # 50.00 once, shown on the period it falls in
        (f"Setup ({number})", "2026-01-10", "2026-01-31", "50.00"),
    ]
    await bill(client, server, "2026-02-01")
    second = (await invoices(client, customer))[-1]
    assert amounts(second) == [("2026-02-01", "2026-02-28", "10.00")]


async def test_one_time_scheme_bills_everything_once_at_the_start(
        client: Client, server: LiveServer, seat: None) -> None:
    await client.gql('mutation { createBillingTermScheme(input: {code: "ONCE", '
                     'type: ONE_TIME}) { id } }')
    customer = await account(client, "Customer")
    await subscribe(client, customer, "2026-01-10", frequency=None, schemeCode="ONCE",
                    items=[{"productCode": "SEAT", "quantity": 3}])
    run = await bill(client, server, "2026-06-01")
    assert run["totalAmount"] == "30.00"  # 10.00 x 3, once
    [invoice] = await invoices(client, customer)
    assert amounts(invoice) == [("2026-01-10", "2026-01-10", "30.00")]
    assert (await bill(client, server, "2027-01-01"))["invoicesCreated"] == 0


async def test_no_billing_while_suspended(client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    sub = await subscribe(client, customer, "2026-01-01",
                          items=[{"productCode": "SEAT", "price": "31.00"}])
    number = sub["subscriptionNumber"]
    for action, day in (("SUSPEND", "2026-01-11"), ("RESUME", "2026-01-21"),
                        ("SUSPEND", "2026-02-10")):
        await order(client, customer, number, {"type": action, "effectiveDate": day})
    await bill(client, server, "2026-04-01")
    [invoice] = await invoices(client, customer)
    assert amounts(invoice) == [
        # Jan 11..20 suspended: 21 of 31 days, 31 x 21/31 = 21.00
        ("2026-01-01", "2026-01-31", "21.00"),
        # suspended from Feb 10 on: Feb 1..9 is 9 of 28 days, 31 x 9/28 = 9.964 -> 9.96;
        # March and April: nothing
        ("2026-02-01", "2026-02-09", "9.96"),
    ]


async def test_a_suspension_of_a_billed_period_is_credited(
        client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    sub = await subscribe(client, customer, "2026-01-01",
                          items=[{"productCode": "SEAT", "price": "31.00"}])
    await bill(client, server, "2026-01-01")
    number = sub["subscriptionNumber"]
    await order(client, customer, number, {"type": "SUSPEND", "effectiveDate": "2026-01-11"})
    await order(client, customer, number, {"type": "RESUME", "effectiveDate": "2026-01-21"})
    await bill(client, server, "2026-01-01")
    credit = (await invoices(client, customer))[-1]
    # 10 suspended days of 31: 31 x 10/31 = 10.00 back
    assert amounts(credit) == [("2026-01-01", "2026-01-31", "-10.00")]


async def test_concurrent_usage_pricing_three_methods(
        client: Client, server: LiveServer, seat: None) -> None:
    await client.gql('mutation { createBillingTermScheme(input: {code: "CU", type: NORMAL, '
                     'concurrentUsageBased: true}) { id } }')
    subs = {}
    for method in ("BASED_ON_NUMBER_OF_INSTALLED_ITEMS", "BASED_ON_MAXIMUM_CAPACITY",
                   "BASED_ON_ACTUAL_CAPACITY"):
        customer = await account(client, method)
        pricing: dict[str, Any] = {"concurrentUsage": 50, "ratePercentage": "80",
                                   "concurrentUsageBillingMethod": method}
        if method == "BASED_ON_NUMBER_OF_INSTALLED_ITEMS":
            pricing["numberOfInstalledItems"] = 20
        sub = await subscribe(client, customer, "2026-01-01", schemeCode="CU",
                              items=[{"productCode": "SEAT"}],
                              concurrentUsageBasedPricing=pricing)
        subs[method] = (customer, sub["subscriptionNumber"])
    actual_owner, actual = subs["BASED_ON_ACTUAL_CAPACITY"]
    # billed in advance on Jan 1, before any usage is known: nothing for actual capacity
    await bill(client, server, "2026-01-01")
    assert await invoices(client, actual_owner) == []
    for day, usage in (("2026-01-05", 12), ("2026-01-20", 35), ("2026-02-02", 70)):
        assert (await client.gql(REPORT, {"n": actual, "d": day, "u": usage}))[
            "reportConcurrentUsage"] is True
    await bill(client, server, "2026-02-01")
    installed = await invoices(client, subs["BASED_ON_NUMBER_OF_INSTALLED_ITEMS"][0])
    # price x billed quantity x rate: 10.00 x 20 installed x 80 % = 160.00 a month
    assert [amounts(i) for i in installed] == [[("2026-01-01", "2026-01-31", "160.00")],
                                               [("2026-02-01", "2026-02-28", "160.00")]]
    assert (installed[0]["lines"][0]["quantity"], installed[0]["lines"][0]["unitPrice"]) == (
        "20", "8.00")
    maximum = await invoices(client, subs["BASED_ON_MAXIMUM_CAPACITY"][0])
    # 10.00 x 50 (the capacity) x 80 % = 400.00
    assert [amounts(i) for i in maximum] == [[("2026-01-01", "2026-01-31", "400.00")],
                                             [("2026-02-01", "2026-02-28", "400.00")]]
    [used] = await invoices(client, actual_owner)
    assert amounts(used) == [
        # January's peak is 35: 10.00 x 35 x 80 % = 280.00
        ("2026-01-01", "2026-01-31", "280.00"),
        # February's 70 is capped at the capacity 50: 400.00
        ("2026-02-01", "2026-02-28", "400.00"),
    ]


async def test_report_concurrent_usage_validation(
        client: Client, server: LiveServer, seat: None) -> None:
    customer = await account(client, "Customer")
    sub = await subscribe(client, customer, "2026-01-01")
    error = await client.error(REPORT, {"n": "S-NOPE", "d": "2026-01-01", "u": 1})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "subscriptionNumber"}
    error = await client.error(REPORT, {"n": sub["subscriptionNumber"], "d": "2026-01-01",
                                        "u": 1})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "subscriptionNumber"}
    error = await client.error(REPORT, {"n": sub["subscriptionNumber"], "d": "2026-01-01",
                                        "u": -1})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "concurrentUsage"}
    assert await server.sql("SELECT id FROM concurrent_usage_reports WHERE tenant_id = :t",
                            t=client.tenant_id) == []


async def test_zero_decimal_currency_rounds_to_whole_units(
        client: Client, server: LiveServer) -> None:
    await plan(client, "YEN", ("SEAT", "RECURRING", "1000", "MONTHLY"), currency="JPY")
    customer = await account(client, "Tokyo", currency="JPY")
    await subscribe(client, customer, "2026-01-03", plan_code="YEN", cycle_day=15)
    await bill(client, server, "2026-01-03")
    [invoice] = await invoices(client, customer)
    # 1000 x 12/31 = 387.09 -> 387
    assert (amounts(invoice), invoice["currency"]) == (
        [("2026-01-03", "2026-01-14", "387")], "JPY")
