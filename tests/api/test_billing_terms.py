"""Billing terms of CREATE_SUBSCRIPTION: every seed rule, defaults, bindings, custom periods,
concurrent-usage pricing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.order_support import (
    CREATE_ORDER,
    catalog,
    charge,
    create_account,
    create_action,
    create_order,
    create_plan,
    entry,
    order,
    row_counts,
    subscribe,
    terms,
)
from tests.support import Client, LiveServer

AT = "subscriptions[0].actions[0].billingTerms"
CREATE_SCHEME = """mutation($input: CreateBillingTermSchemeInput!) {
  createBillingTermScheme(input: $input) { id } }"""


async def setup(client: Client) -> dict[str, Any]:
    """Plans BASIC (USD) and OTHER, EURO (EUR); schemes ONCE (ONE_TIME), MID (cycle day 15),
    CU (concurrent-usage based); users alice and bob; CUSTOM1 = 2 weeks, CUSTOM2 = 10 days."""
    await catalog(client)
    other = await create_plan(client, "OTHER", charge("A", "1"))
    await create_plan(client, "EURO", charge("A", "1"), currency="EUR")
    for scheme in ({"code": "ONCE", "type": "ONE_TIME"},
                   {"code": "MID", "type": "NORMAL", "billingCycleDay": 15},
                   {"code": "CU", "type": "NORMAL", "concurrentUsageBased": True}):
        await client.gql(CREATE_SCHEME, {"input": scheme})
    users = {}
    for name in ("alice", "bob"):
        made = await client.gql("mutation($u: String!) { createUser(username: $u) { id } }",
                                {"u": name})
        users[name] = made["createUser"]["id"]
    await client.gql("""mutation { updateTenantSettings(input: {customPeriods: [
        {name: "CUSTOM1", unit: "WEEK", count: 2}, {name: "CUSTOM2", unit: "DAY", count: 10}]})
        { id } }""")
    basic = await client.gql('{ pricePlan(code: "BASIC") { id } }')
    return {"account": await create_account(client), "users": users,
            "basic": basic["pricePlan"]["id"], "other": other["id"]}


def cu(**extra: Any) -> dict[str, Any]:
    return {"concurrentUsage": 4, "ratePercentage": "50", "numberOfInstalledItems": 2, **extra}


RULES: list[tuple[str, dict[str, Any], str]] = [
    ("no plan identifier", {"pricePlan": {}}, "pricePlan"),
    ("unknown plan code", {"pricePlan": {"code": "NOPE"}}, "pricePlan.code"),
    ("unknown plan id", {"pricePlan": {"id": str(uuid.uuid4())}}, "pricePlan.id"),
    ("malformed plan id", {"pricePlan": {"id": "garbage"}}, "pricePlan.id"),
    ("id and code of different plans", {"pricePlan": {"id": "$basic", "code": "OTHER"}},
     "pricePlan"),
    ("id known, code unknown", {"pricePlan": {"id": "$basic", "code": "NOPE"}}, "pricePlan.code"),
    ("plan currency differs from the invoice owner's", {"pricePlan": {"code": "EURO"}},
     "pricePlan"),
    ("unknown scheme", {"schemeCode": "NOPE"}, "schemeCode"),
    ("NORMAL without frequency", {"billingFrequency": None}, "billingFrequency"),
    ("ONE_TIME with frequency", {"schemeCode": "ONCE"}, "billingFrequency"),
    ("cycle day 0", {"billingCycleDay": 0}, "billingCycleDay"),
    ("cycle day 32", {"billingCycleDay": 32}, "billingCycleDay"),
    ("undefined custom frequency", {"billingFrequency": "CUSTOM3"}, "billingFrequency"),
    ("undefined custom binding", {"bindingInformation": {"bindingPeriod": "CUSTOM4"}},
     "bindingInformation.bindingPeriod"),
    ("concurrent-usage scheme without pricing", {"schemeCode": "CU"},
     "concurrentUsageBasedPricing"),
    ("pricing on a scheme that is not concurrent-usage based",
     {"concurrentUsageBasedPricing": cu()}, "concurrentUsageBasedPricing"),
    ("installed items missing for the default method",
     {"schemeCode": "CU", "concurrentUsageBasedPricing": cu(numberOfInstalledItems=None)},
     "concurrentUsageBasedPricing.numberOfInstalledItems"),
    ("installed items missing for BASED_ON_NUMBER_OF_INSTALLED_ITEMS",
     {"schemeCode": "CU", "concurrentUsageBasedPricing": cu(
         numberOfInstalledItems=None,
         concurrentUsageBillingMethod="BASED_ON_NUMBER_OF_INSTALLED_ITEMS")},
     "concurrentUsageBasedPricing.numberOfInstalledItems"),
    ("installed items 0", {"schemeCode": "CU",
                           "concurrentUsageBasedPricing": cu(numberOfInstalledItems=0)},
     "concurrentUsageBasedPricing.numberOfInstalledItems"),
    ("installed items with another method",
     {"schemeCode": "CU", "concurrentUsageBasedPricing": cu(
         concurrentUsageBillingMethod="BASED_ON_MAXIMUM_CAPACITY")},
     "concurrentUsageBasedPricing.numberOfInstalledItems"),
    ("rate 0", {"schemeCode": "CU", "concurrentUsageBasedPricing": cu(ratePercentage="0")},
     "concurrentUsageBasedPricing.ratePercentage"),
    ("rate negative", {"schemeCode": "CU",
                       "concurrentUsageBasedPricing": cu(ratePercentage="-1")},
     "concurrentUsageBasedPricing.ratePercentage"),
    ("rate over 100", {"schemeCode": "CU",
                       "concurrentUsageBasedPricing": cu(ratePercentage="100.01")},
     "concurrentUsageBasedPricing.ratePercentage"),
    ("concurrent usage 0", {"schemeCode": "CU",
                            "concurrentUsageBasedPricing": cu(concurrentUsage=0)},
     "concurrentUsageBasedPricing.concurrentUsage"),
    ("performedBy empty", {"performedBy": {}}, "performedBy"),
    ("performedBy unknown username", {"performedBy": {"username": "mallory"}},
     "performedBy.username"),
    ("performedBy unknown id", {"performedBy": {"id": str(uuid.uuid4())}}, "performedBy.id"),
    ("performedBy id and username of different users",
     {"performedBy": {"id": "$alice", "username": "bob"}}, "performedBy"),
]


@pytest.mark.parametrize(("changes", "field"), [(c, f) for _, c, f in RULES],
                         ids=[name for name, _, _ in RULES])
async def test_rule(server: LiveServer, client: Client, changes: dict[str, Any],
                    field: str) -> None:
    ids = await setup(client)
    values = {"$basic": ids["basic"], "$alice": ids["users"]["alice"]}

    def fill(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return values.get(value, value) if isinstance(value, str) else value

    billing_terms = {k: v for k, v in {**terms(), **fill(changes)}.items() if v is not None}
    error = await client.error(CREATE_ORDER, {"input": order(
        ids["account"], entry(create_action(billingTerms=billing_terms)))})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": f"{AT}.{field}"}
    assert f"{AT}.{field}" in error["message"]
    assert set((await row_counts(server, client)).values()) == {0}


async def test_billing_terms_are_mandatory(server: LiveServer, client: Client) -> None:
    ids = await setup(client)
    error = await client.error(CREATE_ORDER, {"input": order(
        ids["account"], entry({"type": "CREATE_SUBSCRIPTION"}))})
    assert error["extensions"] == {"code": "BAD_USER_INPUT",
                                   "field": "subscriptions[0].actions[0].billingTerms"}
    assert set((await row_counts(server, client)).values()) == {0}


async def test_performed_by_only_when_creating(server: LiveServer, client: Client) -> None:
    ids = await setup(client)
    error = await client.error(CREATE_ORDER, {"input": order(ids["account"], entry(
        create_action(),
        {"type": "ADD_PRODUCT", "item": {"productCode": "A"},
         "billingTerms": terms(performedBy={"username": "alice"}, performedOn="2026-01-01")}))})
    assert error["extensions"] == {"code": "BAD_USER_INPUT",
                                   "field": "subscriptions[0].actions[1].billingTerms"}
    assert set((await row_counts(server, client)).values()) == {0}


async def test_defaults_and_identifiers(client: Client) -> None:
    ids = await setup(client)
    by_id = await subscribe(client, ids["account"], billingTerms=terms(
        pricePlan={"id": ids["basic"], "code": "BASIC"}, schemeCode="MID",
        performedBy={"id": ids["users"]["bob"], "username": "bob"}, performedOn="2025-12-30"))
    got = by_id["billingTerms"]
    assert got["pricePlan"] == {"code": "BASIC"} and got["scheme"] == {"code": "MID"}
    assert got["billingCycleDay"] == 15  # the scheme's
    assert got["performedBy"] == {"username": "bob"} and got["performedOn"] == "2025-12-30"
    explicit = await subscribe(client, ids["account"], billingTerms=terms(
        pricePlan={"id": ids["basic"]}, schemeCode="MID", billingCycleDay=31,
        performedBy={"username": "alice"}))
    assert explicit["billingTerms"]["billingCycleDay"] == 31
    assert explicit["billingTerms"]["performedBy"] == {"username": "alice"}
    once = await subscribe(client, ids["account"], billingTerms={
        "pricePlan": {"code": "BASIC"}, "agreementDate": "2026-01-01", "schemeCode": "ONCE"})
    assert once["billingTerms"]["billingFrequency"] is None
    assert once["billingTerms"]["scheme"] == {"code": "ONCE"}
    assert once["billingTerms"]["billingCycleDay"] == 1


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        ({"bindingPeriod": "ANNUAL"}, ("2026-03-01", "2027-02-28")),
        ({"bindingPeriod": "MONTH", "startDate": "2026-01-31"}, ("2026-01-31", "2026-02-27")),
        ({"bindingPeriod": "QUARTER", "startDate": "2026-04-15"}, ("2026-04-15", "2026-07-14")),
        ({"bindingPeriod": "WEEK"}, ("2026-03-01", "2026-03-07")),
        ({"bindingPeriod": "TWOYEARS"}, ("2026-03-01", "2028-02-29")),
        ({"bindingPeriod": "CUSTOM1"}, ("2026-03-01", "2026-03-14")),
        ({"bindingPeriod": "CUSTOM2", "startDate": "2026-02-25"}, ("2026-02-25", "2026-03-06")),
    ],
)
async def test_binding_information(client: Client, binding: dict[str, str],
                                   expected: tuple[str, str]) -> None:
    ids = await setup(client)
    sub = await subscribe(client, ids["account"], billingTerms=terms(
        agreementDate="2026-03-01", bindingInformation=binding))
    assert sub["billingTerms"]["bindingInformation"] == {
        "bindingPeriod": binding["bindingPeriod"], "startDate": expected[0],
        "endDate": expected[1]}


async def test_custom_frequency(client: Client) -> None:
    ids = await setup(client)
    sub = await subscribe(client, ids["account"], billingTerms=terms(billingFrequency="CUSTOM2"))
    assert sub["billingTerms"]["billingFrequency"] == "CUSTOM2"


@pytest.mark.parametrize(
    ("pricing", "mrr"),
    [
        # A 10.00 monthly + B 120.00 annual (10.00 a month): 20.00 per billed unit at 100 %
        (cu(numberOfInstalledItems=5, ratePercentage="50"), "50.00"),
        (cu(numberOfInstalledItems=None, concurrentUsage=8, ratePercentage="25",
            concurrentUsageBillingMethod="BASED_ON_MAXIMUM_CAPACITY"), "40.00"),
        (cu(numberOfInstalledItems=None, concurrentUsage=3, ratePercentage="100",
            concurrentUsageBillingMethod="BASED_ON_ACTUAL_CAPACITY"), "60.00"),
        (cu(numberOfInstalledItems=1, ratePercentage="33.333"), "6.67"),
    ],
)
async def test_concurrent_usage_pricing(client: Client, pricing: dict[str, Any],
                                        mrr: str) -> None:
    ids = await setup(client)
    sub = await subscribe(client, ids["account"], billingTerms=terms(
        schemeCode="CU", concurrentUsageBasedPricing=pricing),
        items=[{"productCode": "A", "quantity": 7}, {"productCode": "B"},
               {"productCode": "SETUP"}])
    stored = sub["billingTerms"]["concurrentUsageBasedPricing"]
    assert stored["concurrentUsage"] == pricing["concurrentUsage"]
    assert stored["ratePercentage"] == pricing["ratePercentage"]
    assert stored["numberOfInstalledItems"] == pricing["numberOfInstalledItems"]
    assert stored["concurrentUsageBillingMethod"] == pricing.get(
        "concurrentUsageBillingMethod", "BASED_ON_NUMBER_OF_INSTALLED_ITEMS")
    # the item quantity does not count under concurrent-usage pricing
    assert sub["mrr"] == mrr
    assert (await client.gql("query($id: ID!) { metrics(accountId: $id) { contractedMrr } }",
                             {"id": ids["account"]}))["metrics"]["contractedMrr"] == mrr


async def test_plan_currency_must_match_invoice_owner(client: Client) -> None:
    ids = await setup(client)
    euro_payer = await create_account(client, "Euro payer", currency="EUR")
    sub = await subscribe(client, ids["account"], invoiceOwnerAccountId=euro_payer,
                          billingTerms=terms(pricePlan={"code": "EURO"}))
    assert sub["invoiceOwnerAccount"]["id"] == euro_payer
    error = await client.error(CREATE_ORDER, {"input": order(ids["account"], entry(
        create_action(invoiceOwnerAccountId=ids["account"],
                      billingTerms=terms(pricePlan={"code": "EURO"}))))})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": f"{AT}.pricePlan"}
    made = await create_order(client, order(ids["account"], entry(create_action())))
    assert made["subscriptions"][0]["subscription"]["billingTerms"]["pricePlan"] == {
        "code": "BASIC"}
