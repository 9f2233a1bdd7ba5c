"""createOrder with CREATE_SUBSCRIPTION: subscriptions, items, MRR, numbers, queries,
limits, idempotency and concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from tests.api.order_support import (
    CREATE_ORDER,
    GET_SUBSCRIPTION,
    catalog,
    charge,
    contracted_mrr,
    create_account,
    create_action,
    create_order,
    create_plan,
    create_product,
    entry,
    order,
    row_counts,
    subscribe,
)
from tests.support import Client, LiveServer


async def test_create_subscription_with_defaults(server: LiveServer, client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    made = await create_order(client, order(account, entry(create_action())))
    assert made["orderNumber"].startswith("O") and len(made["orderNumber"]) == 9
    assert made["orderDate"] == "2026-01-01"
    assert made["account"]["id"] == account
    [placed] = made["subscriptions"]
    assert placed["actions"] == [{"type": "CREATE_SUBSCRIPTION", "effectiveDate": "2026-01-01"}]
    sub = placed["subscription"]
    assert sub["subscriptionNumber"].startswith("S") and len(sub["subscriptionNumber"]) == 9
    assert sub["status"] == "ACTIVE" and sub["startDate"] == "2026-01-01"
    assert sub["cancelledOn"] is None
    assert sub["ownerAccount"]["id"] == sub["invoiceOwnerAccount"]["id"] == account
    assert sub["billingTerms"] == {
        "pricePlan": {"code": "BASIC"}, "scheme": {"code": "DEFAULT"}, "billingCycleDay": 1,
        "agreementDate": "2026-01-01", "billingFrequency": "MONTHLY", "performedOn": None,
        "performedBy": None, "bindingInformation": None, "concurrentUsageBasedPricing": None}
    # one item per plan charge, the plan's prices, quantity 1, open-ended
    items = [(i["product"]["code"], i["chargeType"], i["quantity"], i["price"], i["pricePeriod"],
              i["startDate"], i["endDate"], i["mrr"]) for i in sub["items"]]
    assert sorted(items) == [
        ("A", "RECURRING", 1, "10.00", "MONTHLY", "2026-01-01", None, "10.00"),
        ("B", "RECURRING", 1, "120.00", "ANNUAL", "2026-01-01", None, "10.00"),
        ("SETUP", "ONE_TIME", 1, "50", "MONTHLY", "2026-01-01", None, "0.00"),
    ]
    assert sub["mrr"] == "20.00"
    assert await contracted_mrr(client, account) == "20.00"
    [owner] = await server.sql("SELECT * FROM subscription_owners WHERE tenant_id = :t",
                               t=client.tenant_id)
    assert str(owner["owner_account_id"]) == str(owner["invoice_owner_account_id"]) == account
    assert str(owner["effective_date"]) == "2026-01-01"
    # creating subscriptions starts no billing
    assert await server.sql("SELECT 1 FROM invoices WHERE tenant_id = :t", t=client.tenant_id) == []
    assert await server.sql("SELECT 1 FROM jobs WHERE tenant_id = :t", t=client.tenant_id) == []


async def test_items_quantities_price_overrides_and_exact_mrr(client: Client) -> None:
    await create_product(client, "D")
    await create_product(client, "W")
    await create_product(client, "U")
    await create_plan(client, "BASIC", charge("D", "1.00", period="DAILY"),
                      charge("W", "10.00", period="WEEKLY"), charge("U", "5", "USAGE"))
    account = await create_account(client)
    sub = await subscribe(client, account, items=[
        {"productCode": "D", "quantity": 3},
        {"productCode": "W", "price": "7.77"},
        {"productCode": "W", "quantity": 2},
        {"productCode": "U", "quantity": 10}])
    mrr = {(i["product"]["code"], i["quantity"], i["price"]): i["mrr"] for i in sub["items"]}
    # 1.00 × 365/12 × 3 = 91.25; 7.77 × 52/12 = 33.67; 10 × 52/12 × 2 = 86.666…; usage 0
    assert mrr == {("D", 3, "1.00"): "91.25", ("W", 1, "7.77"): "33.67",
                   ("W", 2, "10.00"): "86.67", ("U", 10, "5"): "0.00"}
    # the subscription sums the exact values and rounds once: 91.25 + 33.67 + 86.666… = 211.586…
    assert sub["mrr"] == "211.59"
    assert await contracted_mrr(client, account) == "211.59"


async def test_mrr_rounds_to_the_currency(client: Client) -> None:
    await create_product(client, "A")
    await create_plan(client, "BASIC", charge("A", "1000", period="WEEKLY"), currency="JPY")
    account = await create_account(client, currency="JPY")
    sub = await subscribe(client, account)
    assert sub["items"][0]["mrr"] == "4333"  # 1000 × 52/12 = 4333.33…
    assert sub["mrr"] == "4333"


async def test_given_numbers_dates_owners(client: Client) -> None:
    await catalog(client)
    reseller = await create_account(client, "Reseller")
    end_user = await create_account(client, "End user")
    made = await create_order(client, order(
        reseller,
        entry(create_action(end_user, invoiceOwnerAccountId=reseller,
                            effectiveDate="2026-02-15"), number="SUB-1"),
        entry(create_action()),
        orderNumber="ORD-1", orderDate="2026-02-01"))
    assert made["orderNumber"] == "ORD-1"
    first, second = (s["subscription"] for s in made["subscriptions"])
    assert first["subscriptionNumber"] == "SUB-1"
    assert first["startDate"] == "2026-02-15"
    assert {i["startDate"] for i in first["items"]} == {"2026-02-15"}
    assert first["ownerAccount"]["id"] == end_user
    assert first["invoiceOwnerAccount"]["id"] == reseller
    assert second["ownerAccount"]["id"] == reseller and second["startDate"] == "2026-02-01"
    assert made["subscriptions"][1]["actions"][0]["effectiveDate"] == "2026-02-01"
    # contractedMrr belongs to the subscription owner, not the invoice owner
    assert await contracted_mrr(client, end_user) == "20.00"
    assert await contracted_mrr(client, reseller) == "20.00"
    looked_up = await client.gql('{ order(orderNumber: "ORD-1") { orderNumber subscriptions { '
                                 "subscription { subscriptionNumber } } } }")
    assert [s["subscription"]["subscriptionNumber"] for s in looked_up["order"]["subscriptions"]
            ] == ["SUB-1", second["subscriptionNumber"]]


async def test_order_date_defaults_to_today(client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    made = await create_order(client, {"accountId": account,
                                       "subscriptions": [entry(create_action())]})
    today = made["orderDate"]
    assert today in {dt.datetime.now(dt.UTC).date().isoformat(),
                     (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).date().isoformat()}
    assert made["subscriptions"][0]["actions"][0]["effectiveDate"] == today
    assert made["subscriptions"][0]["subscription"]["startDate"] == today


async def test_queries_and_not_found(client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    other = await create_account(client, "Other")
    one = await subscribe(client, account)
    two = await subscribe(client, other, invoiceOwnerAccountId=account)
    three = await subscribe(client, account)
    by_number = await client.gql(GET_SUBSCRIPTION, {"n": one["subscriptionNumber"]})
    assert by_number["subscription"] == one
    terms_only = await client.gql(
        "query($n: String!) { billingTerms(subscriptionNumber: $n) { billingFrequency "
        "pricePlan { code charges { price } } } }", {"n": two["subscriptionNumber"]})
    assert terms_only["billingTerms"] == {"billingFrequency": "MONTHLY", "pricePlan": {
        "code": "BASIC", "charges": [{"price": "10.00"}, {"price": "120.00"}, {"price": "50"}]}}
    page = """query($first: Int, $after: String, $filter: SubscriptionFilter) {
      subscriptions(first: $first, after: $after, filter: $filter) { totalCount
        edges { cursor node { subscriptionNumber } } pageInfo { hasNextPage endCursor } } }"""
    all_ = (await client.gql(page, {"first": 2}))["subscriptions"]
    assert all_["totalCount"] == 3 and all_["pageInfo"]["hasNextPage"] is True
    rest = (await client.gql(page, {"first": 2, "after": all_["pageInfo"]["endCursor"]}))
    numbers = [e["node"]["subscriptionNumber"] for e in all_["edges"]
               + rest["subscriptions"]["edges"]]
    assert numbers == [one["subscriptionNumber"], two["subscriptionNumber"],
                       three["subscriptionNumber"]]
    owned = (await client.gql(page, {"filter": {"ownerAccountId": account}}))["subscriptions"]
    assert owned["totalCount"] == 2
    billed = (await client.gql(page, {"filter": {"invoiceOwnerAccountId": account,
                                                 "status": "ACTIVE"}}))["subscriptions"]
    assert billed["totalCount"] == 3
    cancelled = (await client.gql(page, {"filter": {"status": "CANCELLED"}}))["subscriptions"]
    assert cancelled["totalCount"] == 0
    for query, field in [
        ('{ subscription(subscriptionNumber: "nope") { id } }', "subscriptionNumber"),
        ('{ billingTerms(subscriptionNumber: "nope") { billingCycleDay } }',
         "subscriptionNumber"),
        ('{ order(orderNumber: "nope") { id } }', "orderNumber"),
    ]:
        error = await client.error(query)
        assert error["extensions"] == {"code": "NOT_FOUND", "field": field}


async def test_account_subscriptions_pages(client: Client) -> None:
    await catalog(client)
    accounts = [await create_account(client, f"acct {n}") for n in range(3)]
    for n, account in enumerate(accounts):
        for _ in range(n + 1):
            await subscribe(client, account)
    query = """query($first: Int, $after: String) { accounts { edges { node { name
      subscriptions(first: $first, after: $after) { totalCount pageInfo { hasNextPage }
        edges { node { subscriptionNumber ownerAccount { name } mrr } } } } } } }"""
    data = await client.gql(query, {"first": 2})
    pages = {e["node"]["name"]: e["node"]["subscriptions"] for e in data["accounts"]["edges"]}
    assert {name: (p["totalCount"], len(p["edges"]), p["pageInfo"]["hasNextPage"])
            for name, p in pages.items()} == {
        "acct 0": (1, 1, False), "acct 1": (2, 2, False), "acct 2": (3, 2, True)}
    assert all(e["node"]["ownerAccount"]["name"] == name and e["node"]["mrr"] == "20.00"
               for name, p in pages.items() for e in p["edges"])


@pytest.mark.parametrize(
    ("subscriptions", "actions_each"), [(51, 1), (1, 51), (26, 2)])
async def test_sync_limits(server: LiveServer, client: Client, subscriptions: int,
                           actions_each: int) -> None:
    await catalog(client)
    account = await create_account(client)
    many = order(account, *[entry(*[create_action()] * actions_each)] * subscriptions)
    error = await client.error(CREATE_ORDER, {"input": many})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "subscriptions"}
    assert set((await row_counts(server, client)).values()) == {0}


async def test_fifty_subscriptions_in_one_order(client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    made = await create_order(client, order(account, *[entry(create_action())] * 50))
    assert len(made["subscriptions"]) == 50
    assert len({s["subscription"]["subscriptionNumber"] for s in made["subscriptions"]}) == 50
    assert await contracted_mrr(client, account) == "1000.00"


async def test_order_numbers_conflict(server: LiveServer, client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    await create_order(client, order(account, entry(create_action(), number="S-1"),
                                     orderNumber="O-1"))
    before = await row_counts(server, client)
    taken = await client.error(CREATE_ORDER, {"input": order(
        account, entry(create_action()), orderNumber="O-1")})
    assert taken["extensions"] == {"code": "CONFLICT", "field": "orderNumber"}
    sub_taken = await client.error(CREATE_ORDER, {"input": order(
        account, entry(create_action()), entry(create_action(), number="S-1"))})
    assert sub_taken["extensions"] == {"code": "CONFLICT", "field": "subscriptions[1]."
                                                                    "subscriptionNumber"}
    assert await row_counts(server, client) == before


async def test_idempotent_create_order(server: LiveServer, client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    input = order(account, entry(create_action()))
    first = await create_order(client, input, key="order-1")
    again = await create_order(client, input, key="order-1")
    assert again == first
    counts = await row_counts(server, client)
    assert counts["orders"] == 1 and counts["subscriptions"] == 1
    reused = await client.error(CREATE_ORDER, {"input": {**input, "orderDate": "2026-01-02"},
                                               "key": "order-1"})
    assert reused["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    other = await create_order(client, input, key="order-2")
    assert other["id"] != first["id"]
    assert (await row_counts(server, client))["orders"] == 2
    assert await contracted_mrr(client, account) == "40.00"


async def test_concurrent_duplicate_order_executes_once(server: LiveServer,
                                                        client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    input = order(account, *[entry(create_action())] * 20)
    responses = await asyncio.gather(*(
        client.post(CREATE_ORDER, {"input": input, "key": "race"}) for _ in range(8)))
    bodies = [r.json() for r in responses]
    ids = {b["data"]["createOrder"]["id"] for b in bodies if b.get("data")}
    codes = {b["errors"][0]["extensions"]["code"] for b in bodies if b.get("errors")}
    assert len(ids) == 1
    assert codes <= {"IDEMPOTENCY_KEY_IN_USE"}
    counts = await row_counts(server, client)
    assert counts["orders"] == 1 and counts["subscriptions"] == 20
    assert await contracted_mrr(client, account) == "400.00"


async def test_32_concurrent_orders_for_one_owner(server: LiveServer, client: Client) -> None:
    """Concurrent writes to one non-partner account serialize, never fail (SPEC §1)."""
    await catalog(client)
    owner = await create_account(client, "Owner")
    payer = await create_account(client, "Payer")

    async def one(n: int) -> Any:
        input = order(owner, entry(create_action(owner, invoiceOwnerAccountId=payer, items=[
            {"productCode": "A", "quantity": n + 1}])))
        return await client.post(CREATE_ORDER, {"input": input})

    responses = await asyncio.gather(*(one(n) for n in range(32)))
    assert [r.status_code for r in responses] == [200] * 32
    assert [r.json().get("errors") for r in responses] == [None] * 32
    # 10.00 × (1 + 2 + … + 32)
    assert await contracted_mrr(client, owner) == "5280.00"
    assert await contracted_mrr(client, payer) == "0.00"
    assert (await row_counts(server, client))["subscriptions"] == 32


async def test_partner_owner_gets_a_stale_mark(server: LiveServer, client: Client) -> None:
    await catalog(client)
    partner = await create_account(client, "Reseller", partnerAccount=True)
    await subscribe(client, partner)
    stale = await client.gql("query($id: ID!) { metrics(accountId: $id) { contractedMrr stale } }",
                             {"id": partner})
    assert stale["metrics"] == {"contractedMrr": "0.00", "stale": True}
    refreshed = await client.gql(
        "mutation($id: ID!) { refreshMetrics(accountId: $id) { contractedMrr stale } }",
        {"id": partner})
    assert refreshed["refreshMetrics"] == {"contractedMrr": "20.00", "stale": False}


async def test_other_tenants_cannot_see_or_use_it(server: LiveServer, client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    sub = await subscribe(client, account)
    async with server.new_tenant("intruder") as other:
        error = await other.error(GET_SUBSCRIPTION, {"n": sub["subscriptionNumber"]})
        assert error["extensions"]["code"] == "NOT_FOUND"
        await catalog(other)
        own = await create_account(other)
        foreign = await other.error(CREATE_ORDER, {"input": order(
            own, entry({"type": "SUSPEND"}, number=sub["subscriptionNumber"]))})
        assert foreign["extensions"] == {"code": "NOT_FOUND",
                                         "field": "subscriptions[0].subscriptionNumber"}
        foreign_owner = await other.error(CREATE_ORDER, {"input": order(
            own, entry(create_action(account)))})
        assert foreign_owner["extensions"] == {
            "code": "NOT_FOUND", "field": "subscriptions[0].actions[0].subscriptionOwnerAccountId"}
        no_account = await other.error(CREATE_ORDER, {"input": order(
            account, entry(create_action()))})
        assert no_account["extensions"] == {"code": "NOT_FOUND", "field": "accountId"}
