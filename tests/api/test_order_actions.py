"""Each order action's effect on items, dates, owners and status, and each of its rules."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.order_support import (
    CREATE_ORDER,
    GET_SUBSCRIPTION,
    catalog,
    change,
    contracted_mrr,
    create_account,
    create_action,
    create_order,
    entry,
    order,
    row_counts,
    subscribe,
    terms,
)
from tests.support import Client, LiveServer


def items_of(sub: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return sorted((i for i in sub["items"] if i["product"]["code"] == code),
                  key=lambda i: (i["startDate"], i["endDate"] or "9999"))


def open_item(sub: dict[str, Any], code: str) -> dict[str, Any]:
    [item] = [i for i in items_of(sub, code) if i["endDate"] is None]
    return item


async def start(client: Client, **action: Any) -> tuple[str, dict[str, Any]]:
    """The catalog, an account, and its subscription from 2026-01-01 (MRR 20.00)."""
    await catalog(client)
    account = await create_account(client)
    return account, await subscribe(client, account, **action)


async def test_add_product(client: Client) -> None:
    account, sub = await start(client)
    after = await change(client, sub["subscriptionNumber"], {
        "type": "ADD_PRODUCT", "effectiveDate": "2026-02-01",
        "item": {"productCode": "A", "quantity": 2, "price": "8"}})
    added = [i for i in items_of(after, "A") if i["startDate"] == "2026-02-01"]
    assert [(i["quantity"], i["price"], i["endDate"], i["mrr"]) for i in added] == [
        (2, "8", None, "16.00")]
    assert len(after["items"]) == 4
    assert after["mrr"] == "36.00"
    assert await contracted_mrr(client, account) == "36.00"


async def test_update_product_ends_the_item_and_starts_its_successor(
        server: LiveServer, client: Client) -> None:
    account, sub = await start(client)
    old = open_item(sub, "A")
    after = await change(client, sub["subscriptionNumber"], {
        "type": "UPDATE_PRODUCT", "effectiveDate": "2026-03-01", "itemId": old["id"],
        "item": {"productCode": "A", "quantity": 3}})
    ended, successor = items_of(after, "A")
    assert ended["id"] == old["id"]
    assert (ended["startDate"], ended["endDate"], ended["quantity"]) == (
        "2026-01-01", "2026-03-01", 1)
    assert (successor["startDate"], successor["endDate"], successor["quantity"],
            successor["price"], successor["pricePeriod"], successor["mrr"]) == (
        "2026-03-01", None, 3, "10.00", "MONTHLY", "30.00")
    [row] = await server.sql("SELECT replaces_item_id FROM subscription_items "
                             "WHERE tenant_id = :t AND id = :id", t=client.tenant_id,
                             id=successor["id"])
    assert str(row["replaces_item_id"]) == old["id"]
    assert after["mrr"] == "40.00"
    # by product code (the one open item of A): a new price, the quantity kept
    again = await change(client, sub["subscriptionNumber"], {
        "type": "UPDATE_PRODUCT", "effectiveDate": "2026-04-01",
        "item": {"productCode": "A", "price": "12.50"}})
    latest = open_item(again, "A")
    assert (latest["quantity"], latest["price"], latest["mrr"]) == (3, "12.50", "37.50")
    assert len(items_of(again, "A")) == 3
    assert await contracted_mrr(client, account) == "47.50"


async def test_remove_product(client: Client) -> None:
    account, sub = await start(client)
    b = open_item(sub, "B")
    after = await change(client, sub["subscriptionNumber"], {
        "type": "REMOVE_PRODUCT", "effectiveDate": "2026-04-01", "itemId": b["id"]})
    [removed] = items_of(after, "B")
    assert removed["endDate"] == "2026-04-01"
    assert removed["mrr"] == "10.00"  # an item's MRR whatever its dates
    assert after["mrr"] == "10.00"
    assert await contracted_mrr(client, account) == "10.00"
    by_code = await change(client, sub["subscriptionNumber"], {
        "type": "REMOVE_PRODUCT", "item": {"productCode": "A"}})
    assert by_code["mrr"] == "0.00"


async def test_an_item_ended_by_an_earlier_order_cannot_change(server: LiveServer,
                                                                client: Client) -> None:
    account, sub = await start(client)
    b = open_item(sub, "B")
    await change(client, sub["subscriptionNumber"], {
        "type": "REMOVE_PRODUCT", "effectiveDate": "2026-02-01", "itemId": b["id"]})
    before = await row_counts(server, client)
    for action in ({"type": "REMOVE_PRODUCT", "itemId": b["id"]},
                   {"type": "UPDATE_PRODUCT", "itemId": b["id"],
                    "item": {"productCode": "B", "quantity": 2}}):
        error = await client.error(CREATE_ORDER, {"input": {**order(account, entry(
            action, number=sub["subscriptionNumber"])), "orderDate": "2026-05-01"}})
        assert error["extensions"] == {"code": "BAD_USER_INPUT",
                                       "field": "subscriptions[0].actions[0].itemId"}
        assert "already ends on 2026-02-01" in error["message"]
    assert await row_counts(server, client) == before


async def test_suspend_and_resume(server: LiveServer, client: Client) -> None:
    account, sub = await start(client)
    number = sub["subscriptionNumber"]
    suspended = await change(client, number, {"type": "SUSPEND", "effectiveDate": "2026-02-01"})
    assert suspended["status"] == "SUSPENDED"
    assert suspended["mrr"] == "20.00"
    resumed = await change(client, number, {"type": "RESUME", "effectiveDate": "2026-03-10"})
    assert resumed["status"] == "ACTIVE"
    both = await change(client, number, {"type": "SUSPEND", "effectiveDate": "2026-05-01"},
                        {"type": "RESUME", "effectiveDate": "2026-05-15"})
    assert both["status"] == "ACTIVE"
    rows = await server.sql("SELECT suspend_date, resume_date FROM subscription_suspensions "
                            "WHERE tenant_id = :t ORDER BY suspend_date", t=client.tenant_id)
    assert [(str(r["suspend_date"]), str(r["resume_date"])) for r in rows] == [
        ("2026-02-01", "2026-03-10"), ("2026-05-01", "2026-05-15")]
    assert await contracted_mrr(client, account) == "20.00"
    overlapping = await client.error(CREATE_ORDER, {"input": order(account, entry(
        {"type": "SUSPEND", "effectiveDate": "2026-05-10"}, number=number))})
    assert overlapping["extensions"] == {"code": "BAD_USER_INPUT",
                                         "field": "subscriptions[0].actions[0].effectiveDate"}
    assert "2026-05-15" in overlapping["message"]


async def test_cancel_subscription(server: LiveServer, client: Client) -> None:
    account, sub = await start(client)
    number = sub["subscriptionNumber"]
    await change(client, number,
                 {"type": "REMOVE_PRODUCT", "effectiveDate": "2026-02-01",
                  "item": {"productCode": "B"}},
                 {"type": "ADD_PRODUCT", "effectiveDate": "2026-09-01",
                  "item": {"productCode": "B"}})
    cancelled = await change(client, number,
                             {"type": "CANCEL_SUBSCRIPTION", "effectiveDate": "2026-06-01"})
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["cancelledOn"] == "2026-06-01"
    ends = sorted((i["product"]["code"], i["startDate"], i["endDate"])
                  for i in cancelled["items"])
    assert ends == [("A", "2026-01-01", "2026-06-01"),
                    ("B", "2026-01-01", "2026-02-01"),  # already ended: unchanged
                    ("B", "2026-09-01", "2026-09-01"),  # starts after the cancellation
                    ("SETUP", "2026-01-01", "2026-06-01")]
    assert cancelled["mrr"] == "0.00"
    assert await contracted_mrr(client, account) == "0.00"


async def test_cancel_scheduled_later_counts_as_cancelled(client: Client) -> None:
    account, sub = await start(client)
    later = await change(client, sub["subscriptionNumber"],
                         {"type": "CANCEL_SUBSCRIPTION", "effectiveDate": "2030-01-01"})
    assert later["status"] == "CANCELLED" and later["mrr"] == "0.00"
    assert {i["endDate"] for i in later["items"]} == {"2030-01-01"}
    assert await contracted_mrr(client, account) == "0.00"


async def test_cancel_respects_the_binding_period(server: LiveServer, client: Client) -> None:
    account, sub = await start(client, billingTerms=terms(
        bindingInformation={"bindingPeriod": "ANNUAL"}))
    number = sub["subscriptionNumber"]
    assert sub["billingTerms"]["bindingInformation"]["endDate"] == "2026-12-31"
    before = await row_counts(server, client)
    for day in ("2026-06-01", "2026-12-31"):
        error = await client.error(CREATE_ORDER, {"input": order(account, entry(
            {"type": "CANCEL_SUBSCRIPTION", "effectiveDate": day}, number=number))})
        assert error["extensions"] == {"code": "BINDING_PERIOD_ACTIVE",
                                       "field": "subscriptions[0].actions[0].effectiveDate"}
        assert "2026-12-31" in error["message"]
    assert await row_counts(server, client) == before
    after = await change(client, number, {"type": "CANCEL_SUBSCRIPTION",
                                          "effectiveDate": "2027-01-01"})
    assert after["cancelledOn"] == "2027-01-01"


async def test_cancel_inside_the_binding_with_override(client: Client) -> None:
    account, sub = await start(client, billingTerms=terms(
        bindingInformation={"bindingPeriod": "ANNUAL"}))
    after = await change(client, sub["subscriptionNumber"], {
        "type": "CANCEL_SUBSCRIPTION", "effectiveDate": "2026-06-01", "overrideBinding": True})
    assert after["status"] == "CANCELLED" and after["cancelledOn"] == "2026-06-01"
    assert await contracted_mrr(client, account) == "0.00"


async def test_owner_transfer_moves_contracted_mrr(server: LiveServer, client: Client) -> None:
    account, sub = await start(client)
    new_owner = await create_account(client, "New owner")
    payer = await create_account(client, "Payer")
    number = sub["subscriptionNumber"]
    moved = await change(client, number, {
        "type": "OWNER_TRANSFER", "effectiveDate": "2026-03-01",
        "newSubscriptionOwnerAccountId": new_owner})
    assert moved["ownerAccount"]["id"] == new_owner
    assert moved["invoiceOwnerAccount"]["id"] == account
    assert await contracted_mrr(client, account) == "0.00"
    assert await contracted_mrr(client, new_owner) == "20.00"
    billed = await change(client, number, {
        "type": "OWNER_TRANSFER", "effectiveDate": "2026-04-01",
        "newInvoiceOwnerAccountId": payer})
    assert billed["ownerAccount"]["id"] == new_owner
    assert billed["invoiceOwnerAccount"]["id"] == payer
    history = await server.sql(
        "SELECT effective_date, owner_account_id, invoice_owner_account_id "
        "FROM subscription_owners WHERE tenant_id = :t ORDER BY effective_date",
        t=client.tenant_id)
    assert [(str(r["effective_date"]), str(r["owner_account_id"]),
             str(r["invoice_owner_account_id"])) for r in history] == [
        ("2026-01-01", account, account), ("2026-03-01", new_owner, account),
        ("2026-04-01", new_owner, payer)]
    owned = await client.gql(
        "query($id: ID!) { account(id: $id) { subscriptions { totalCount } } }", {"id": new_owner})
    assert owned["account"]["subscriptions"]["totalCount"] == 1


async def test_owner_transfers_keep_their_dates_in_order(server: LiveServer,
                                                         client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    first = await create_account(client, "First")
    second = await create_account(client, "Second")
    # created and handed over the same day in one order: one owners row for that day
    made = await create_order(client, order(account, entry(
        create_action(),
        {"type": "OWNER_TRANSFER", "newSubscriptionOwnerAccountId": first})))
    number = made["subscriptions"][0]["subscription"]["subscriptionNumber"]
    rows = await server.sql("SELECT effective_date, owner_account_id FROM subscription_owners "
                            "WHERE tenant_id = :t", t=client.tenant_id)
    assert [(str(r["effective_date"]), str(r["owner_account_id"])) for r in rows] == [
        ("2026-01-01", first)]
    await change(client, number, {"type": "OWNER_TRANSFER", "effectiveDate": "2026-03-01",
                                  "newSubscriptionOwnerAccountId": second})
    before = await row_counts(server, client)
    error = await client.error(CREATE_ORDER, {"input": order(second, entry(
        {"type": "OWNER_TRANSFER", "effectiveDate": "2026-02-01",
         "newSubscriptionOwnerAccountId": account}, number=number))})
    assert error["extensions"] == {"code": "BAD_USER_INPUT",
                                   "field": "subscriptions[0].actions[0].effectiveDate"}
    assert "2026-03-01" in error["message"]
    assert await row_counts(server, client) == before
    assert await contracted_mrr(client, second) == "20.00"
    assert await contracted_mrr(client, first) == "0.00"


async def test_owner_transfer_to_a_partner_marks_it_stale(client: Client) -> None:
    account, sub = await start(client)
    partner = await create_account(client, "Reseller", partnerAccount=True)
    await change(client, sub["subscriptionNumber"], {
        "type": "OWNER_TRANSFER", "newSubscriptionOwnerAccountId": partner,
        "newInvoiceOwnerAccountId": partner})
    assert await contracted_mrr(client, account) == "0.00"
    metrics = await client.gql("query($id: ID!) { metrics(accountId: $id) { stale } }",
                               {"id": partner})
    assert metrics["metrics"]["stale"] is True


@pytest.mark.parametrize(
    ("period", "start_date", "ends"),
    [
        ("ANNUAL", "2026-03-01", ["2027-02-28", "2028-02-29", "2029-02-28"]),
        ("MONTH", "2026-01-31", ["2026-02-27", "2026-03-30", "2026-04-29"]),
        ("WEEK", "2026-01-01", ["2026-01-07", "2026-01-14", "2026-01-21"]),
    ],
)
async def test_renew_extends_the_binding_by_one_period(client: Client, period: str,
                                                       start_date: str, ends: list[str]) -> None:
    _, sub = await start(client, billingTerms=terms(
        bindingInformation={"bindingPeriod": period, "startDate": start_date}))
    seen = [sub["billingTerms"]["bindingInformation"]["endDate"]]
    for _ in range(2):
        renewed = await change(client, sub["subscriptionNumber"], {"type": "RENEW_SUBSCRIPTION"})
        seen.append(renewed["billingTerms"]["bindingInformation"]["endDate"])
        assert renewed["billingTerms"]["bindingInformation"]["startDate"] == start_date
    assert seen == ends


async def test_one_order_creates_and_changes_a_subscription(server: LiveServer,
                                                           client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    other = await create_account(client, "Other")
    made = await create_order(client, order(account, entry(
        create_action(items=[{"productCode": "A"}]),
        {"type": "ADD_PRODUCT", "effectiveDate": "2026-01-10", "item": {"productCode": "B"}},
        {"type": "UPDATE_PRODUCT", "effectiveDate": "2026-01-20",
         "item": {"productCode": "A", "quantity": 5}},
        {"type": "SUSPEND", "effectiveDate": "2026-02-01"},
        {"type": "OWNER_TRANSFER", "effectiveDate": "2026-02-01",
         "newSubscriptionOwnerAccountId": other})))
    [placed] = made["subscriptions"]
    assert [(a["type"], a["effectiveDate"]) for a in placed["actions"]] == [
        ("CREATE_SUBSCRIPTION", "2026-01-01"), ("ADD_PRODUCT", "2026-01-10"),
        ("UPDATE_PRODUCT", "2026-01-20"), ("SUSPEND", "2026-02-01"),
        ("OWNER_TRANSFER", "2026-02-01")]
    sub = placed["subscription"]
    assert sub["status"] == "SUSPENDED" and sub["ownerAccount"]["id"] == other
    assert [(i["quantity"], i["startDate"], i["endDate"]) for i in items_of(sub, "A")] == [
        (1, "2026-01-01", "2026-01-20"), (5, "2026-01-20", None)]
    assert sub["mrr"] == "60.00"
    assert await contracted_mrr(client, account) == "0.00"
    assert await contracted_mrr(client, other) == "60.00"
    counts = await row_counts(server, client)
    assert counts == {"orders": 1, "order_actions": 5, "subscriptions": 1,
                      "subscription_items": 3, "subscription_owners": 2,
                      "subscription_suspensions": 1}


async def test_a_failing_action_leaves_nothing(server: LiveServer, client: Client) -> None:
    account, sub = await start(client)
    before = await row_counts(server, client)
    error = await client.error(CREATE_ORDER, {"input": order(
        account,
        entry(create_action()),
        entry({"type": "SUSPEND"}, {"type": "ADD_PRODUCT", "item": {"productCode": "NOPE"}},
              number=sub["subscriptionNumber"]))})
    assert error["extensions"] == {"code": "BAD_USER_INPUT",
                                   "field": "subscriptions[1].actions[1].item.productCode"}
    assert await row_counts(server, client) == before
    unchanged = await client.gql(GET_SUBSCRIPTION, {"n": sub["subscriptionNumber"]})
    assert unchanged["subscription"] == sub
    assert await contracted_mrr(client, account) == "20.00"


A = "subscriptions[0].actions[0]"
RULES: list[tuple[str, list[dict[str, Any]], str, str]] = [
    ("add without item", [{"type": "ADD_PRODUCT"}], "BAD_USER_INPUT", f"{A}.item"),
    ("add a product not in the plan", [{"type": "ADD_PRODUCT", "item": {"productCode": "X"}}],
     "BAD_USER_INPUT", f"{A}.item.productCode"),
    ("add quantity 0", [{"type": "ADD_PRODUCT", "item": {"productCode": "A", "quantity": 0}}],
     "BAD_USER_INPUT", f"{A}.item.quantity"),
    ("add negative price", [{"type": "ADD_PRODUCT",
                             "item": {"productCode": "A", "price": "-1"}}],
     "BAD_USER_INPUT", f"{A}.item.price"),
    ("add before the subscription starts",
     [{"type": "ADD_PRODUCT", "effectiveDate": "2025-12-31", "item": {"productCode": "A"}}],
     "BAD_USER_INPUT", f"{A}.effectiveDate"),
    ("update without a change", [{"type": "UPDATE_PRODUCT", "item": {"productCode": "A"}}],
     "BAD_USER_INPUT", f"{A}.item"),
    ("update an unknown item", [{"type": "UPDATE_PRODUCT", "itemId": str(uuid.uuid4()),
                                 "item": {"productCode": "A", "quantity": 2}}],
     "NOT_FOUND", f"{A}.itemId"),
    ("update a malformed item id", [{"type": "UPDATE_PRODUCT", "itemId": "x",
                                     "item": {"productCode": "A", "quantity": 2}}],
     "NOT_FOUND", f"{A}.itemId"),
    ("update an item of another product", [{"type": "UPDATE_PRODUCT", "itemId": "$A",
                                            "item": {"productCode": "B", "quantity": 2}}],
     "BAD_USER_INPUT", f"{A}.item.productCode"),
    ("update a product without an open item",
     [{"type": "UPDATE_PRODUCT", "item": {"productCode": "A", "quantity": 2}},
      {"type": "UPDATE_PRODUCT", "itemId": "$A", "item": {"productCode": "A", "quantity": 3}}],
     "BAD_USER_INPUT", "subscriptions[0].actions[1].itemId"),
    ("update an ambiguous product",
     [{"type": "ADD_PRODUCT", "item": {"productCode": "A"}},
      {"type": "UPDATE_PRODUCT", "item": {"productCode": "A", "quantity": 2}}],
     "BAD_USER_INPUT", "subscriptions[0].actions[1].itemId"),
    ("update quantity 0", [{"type": "UPDATE_PRODUCT",
                            "item": {"productCode": "A", "quantity": 0}}],
     "BAD_USER_INPUT", f"{A}.item.quantity"),
    ("remove without naming an item", [{"type": "REMOVE_PRODUCT"}], "BAD_USER_INPUT",
     f"{A}.itemId"),
    ("remove with a quantity", [{"type": "REMOVE_PRODUCT",
                                 "item": {"productCode": "A", "quantity": 2}}],
     "BAD_USER_INPUT", f"{A}.item.quantity"),
    ("remove twice", [{"type": "REMOVE_PRODUCT", "itemId": "$A"},
                      {"type": "REMOVE_PRODUCT", "itemId": "$A"}],
     "BAD_USER_INPUT", "subscriptions[0].actions[1].itemId"),
    ("remove before the item starts",
     [{"type": "REMOVE_PRODUCT", "itemId": "$A", "effectiveDate": "2025-06-01"}],
     "BAD_USER_INPUT", f"{A}.effectiveDate"),
    ("suspend twice", [{"type": "SUSPEND"}, {"type": "SUSPEND"}], "BAD_USER_INPUT",
     "subscriptions[0].actions[1].type"),
    ("resume when not suspended", [{"type": "RESUME"}], "BAD_USER_INPUT", f"{A}.type"),
    ("suspend inside the previous suspension", [
        {"type": "SUSPEND", "effectiveDate": "2026-02-01"},
        {"type": "RESUME", "effectiveDate": "2026-03-01"},
        {"type": "SUSPEND", "effectiveDate": "2026-02-15"}],
     "BAD_USER_INPUT", "subscriptions[0].actions[2].effectiveDate"),
    ("resume before the suspension", [
        {"type": "SUSPEND", "effectiveDate": "2026-03-01"},
        {"type": "RESUME", "effectiveDate": "2026-02-01"}],
     "BAD_USER_INPUT", "subscriptions[0].actions[1].effectiveDate"),
    ("cancel twice", [{"type": "CANCEL_SUBSCRIPTION"}, {"type": "CANCEL_SUBSCRIPTION"}],
     "BAD_USER_INPUT", "subscriptions[0].actions[1].type"),
    ("change after cancelling", [{"type": "CANCEL_SUBSCRIPTION"},
                                 {"type": "ADD_PRODUCT", "item": {"productCode": "A"}}],
     "BAD_USER_INPUT", "subscriptions[0].actions[1].type"),
    ("transfer to nobody", [{"type": "OWNER_TRANSFER"}], "BAD_USER_INPUT",
     f"{A}.newSubscriptionOwnerAccountId"),
    ("transfer to an unknown owner", [{"type": "OWNER_TRANSFER",
                                       "newSubscriptionOwnerAccountId": str(uuid.uuid4())}],
     "NOT_FOUND", f"{A}.newSubscriptionOwnerAccountId"),
    ("transfer to an unknown invoice owner",
     [{"type": "OWNER_TRANSFER", "newInvoiceOwnerAccountId": str(uuid.uuid4())}],
     "NOT_FOUND", f"{A}.newInvoiceOwnerAccountId"),
    ("transfer to an invoice owner in another currency",
     [{"type": "OWNER_TRANSFER", "newInvoiceOwnerAccountId": "$EUR"}],
     "BAD_USER_INPUT", f"{A}.newInvoiceOwnerAccountId"),
    ("renew without binding", [{"type": "RENEW_SUBSCRIPTION"}], "BAD_USER_INPUT", f"{A}.type"),
    ("create again", [create_action()], "CONFLICT", "subscriptions[0].subscriptionNumber"),
    ("field of another action type", [{"type": "SUSPEND", "overrideBinding": True}],
     "BAD_USER_INPUT", f"{A}.overrideBinding"),
    ("items on ADD_PRODUCT", [{"type": "ADD_PRODUCT", "items": [{"productCode": "A"}]}],
     "BAD_USER_INPUT", f"{A}.items"),
    ("owner on ADD_PRODUCT", [{"type": "ADD_PRODUCT", "item": {"productCode": "A"},
                               "subscriptionOwnerAccountId": "$EUR"}],
     "BAD_USER_INPUT", f"{A}.subscriptionOwnerAccountId"),
    ("no actions", [], "BAD_USER_INPUT", "subscriptions[0].actions"),
]


@pytest.mark.parametrize(("actions", "code", "field"), [r[1:] for r in RULES],
                         ids=[r[0] for r in RULES])
async def test_action_rule(server: LiveServer, client: Client, actions: list[dict[str, Any]],
                           code: str, field: str) -> None:
    account, sub = await start(client)
    euro = await create_account(client, "Euro", currency="EUR")
    values = {"$A": open_item(sub, "A")["id"], "$EUR": euro}
    actions = [{k: values.get(v, v) if isinstance(v, str) else v for k, v in a.items()}
               for a in actions]
    before = await row_counts(server, client)
    error = await client.error(CREATE_ORDER, {"input": order(
        account, entry(*actions, number=sub["subscriptionNumber"]))})
    assert error["extensions"] == {"code": code, "field": field}
    assert await row_counts(server, client) == before
    assert (await client.gql(GET_SUBSCRIPTION, {"n": sub["subscriptionNumber"]}))[
        "subscription"] == sub


ENTRY_RULES: list[tuple[str, list[dict[str, Any]], str, str]] = [
    ("a new subscription must start with CREATE_SUBSCRIPTION",
     [entry({"type": "SUSPEND"})], "BAD_USER_INPUT", f"{A}.type"),
    ("an unknown number", [entry({"type": "SUSPEND"}, number="S-NOPE")], "NOT_FOUND",
     "subscriptions[0].subscriptionNumber"),
    ("CREATE_SUBSCRIPTION only first", [entry(create_action(), create_action())],
     "BAD_USER_INPUT", "subscriptions[0].actions[1].type"),
    ("a number twice", [entry(create_action(), number="NEW-1"),
                        entry(create_action(), number="NEW-1")],
     "BAD_USER_INPUT", "subscriptions[1].subscriptionNumber"),
    ("a blank new number", [entry(create_action(), number=" ")], "BAD_USER_INPUT",
     "subscriptions[0].subscriptionNumber"),
    ("empty items", [entry(create_action(items=[]))], "BAD_USER_INPUT", f"{A}.items"),
    ("item quantity 0", [entry(create_action(items=[{"productCode": "A", "quantity": 0}]))],
     "BAD_USER_INPUT", f"{A}.items[0].quantity"),
    ("item price negative", [entry(create_action(items=[{"productCode": "A"},
                                                        {"productCode": "B", "price": "-2"}]))],
     "BAD_USER_INPUT", f"{A}.items[1].price"),
    ("item not in the plan", [entry(create_action(items=[{"productCode": "X"}]))],
     "BAD_USER_INPUT", f"{A}.items[0].productCode"),
    ("unknown invoice owner", [entry(create_action(invoiceOwnerAccountId=str(uuid.uuid4())))],
     "NOT_FOUND", f"{A}.invoiceOwnerAccountId"),
    ("no subscriptions", [], "BAD_USER_INPUT", "subscriptions"),
]


@pytest.mark.parametrize(("entries", "code", "field"), [r[1:] for r in ENTRY_RULES],
                         ids=[r[0] for r in ENTRY_RULES])
async def test_entry_rule(server: LiveServer, client: Client, entries: list[dict[str, Any]],
                          code: str, field: str) -> None:
    await catalog(client)
    account = await create_account(client)
    error = await client.error(CREATE_ORDER, {"input": order(account, *entries)})
    assert error["extensions"] == {"code": code, "field": field}
    assert set((await row_counts(server, client)).values()) == {0}


async def test_order_number_must_not_be_blank(server: LiveServer, client: Client) -> None:
    await catalog(client)
    account = await create_account(client)
    error = await client.error(CREATE_ORDER, {"input": order(account, entry(create_action()),
                                                             orderNumber="")})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "orderNumber"}
    assert set((await row_counts(server, client)).values()) == {0}
