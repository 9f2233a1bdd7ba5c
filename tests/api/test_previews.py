"""billingPreview and previewOrder (SPEC §13): what a bill run or an order would do, exactly,
with nothing written. Every bill-run test also checks its preview (bill_run_support.bill);
here: the previews' own rules, and previewOrder for every order action type."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from billgraph.db import tx
from billgraph.db.engine import make_engine
from tests.api.adjustment_support import apply, discount, tax_rate
from tests.api.bill_run_support import account, bill, plan, subscribe
from tests.api.order_support import (
    CREATE_ORDER,
    catalog,
    contracted_mrr,
    create_account,
    create_action,
    create_order,
    entry,
    order,
    terms,
)
from tests.api.order_support import subscribe as order_subscribe
from tests.api.preview_support import (
    BILLING_PREVIEW,
    INVOICE_PREVIEW,
    billing_preview,
    database_state,
    preview_unwritten,
)
from tests.support import Client, LiveServer

GERMANY = {"billingAddress": {"country": "DE", "region": "BY", "city": "München",
                              "line1": "Marienplatz 1", "postalCode": "80331"}}
PREVIEW_ORDER = f"""query($input: CreateOrderInput!, $target: Date) {{
  previewOrder(input: $input, targetDate: $target) {{
    subscriptions {{ subscriptionNumber status mrr ownerAccount {{ id }}
                    invoiceOwnerAccount {{ id }} }}
    contractedMrr {{ account {{ id }} before after }}
    invoices {{ {INVOICE_PREVIEW} }} }} }}"""


async def test_a_preview_with_discounts_and_two_taxes_is_the_run_cent_for_cent(
        client: Client, server: LiveServer) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
               ("SUPPORT", "RECURRING", "30.00", "MONTHLY"))
    await tax_rate(client, "DE-VAT", "19", "DE")
    await tax_rate(client, "BY-CITY", "2.5", "DE", "BY")
    await discount(client, "P20", "PERCENTAGE", "20", productCodes=["SEAT"])
    customer = await account(client, "Kunde", **GERMANY)
    sub = await subscribe(client, customer, "2026-01-16",
                          items=[{"productCode": "SEAT", "quantity": 3},
                                 {"productCode": "SUPPORT"}])
    await apply(client, sub["subscriptionNumber"], "P20")
    [invoice] = await preview_unwritten(client, server, "2026-02-01")
    # Jan 16..31 = 16/31 of a month: SEAT 30.00 x 16/31 = 15.48, 20 % off = 3.10 (3.096);
    # SUPPORT 30.00 x 16/31 = 15.48; Feb: SEAT 30.00 - 6.00, SUPPORT 30.00
    assert [(ln["servicePeriodStart"], ln["amount"], ln["discountAmount"], ln["taxAmount"])
            for ln in invoice["lines"]] == [
        # tax on the net, per rate, rounded per line: 12.38 x 19 % = 2.35 (2.3522),
        # x 2.5 % = 0.31 (0.3095): 2.66
        ("2026-01-16", "15.48", "3.10", "2.66"),
        # 24.00 x 19 % = 4.56, x 2.5 % = 0.60
        ("2026-02-01", "30.00", "6.00", "5.16"),
        # 15.48 x 19 % = 2.94 (2.9412), x 2.5 % = 0.39 (0.387)
        ("2026-01-16", "15.48", "0.00", "3.33"),
        # 30.00 x 19 % = 5.70, x 2.5 % = 0.75
        ("2026-02-01", "30.00", "0.00", "6.45"),
    ]
    # 90.96 - 9.10 + 17.60
    assert (invoice["subtotal"], invoice["discountAmount"], invoice["taxAmount"],
            invoice["amount"]) == ("90.96", "9.10", "17.60", "99.46")
    assert invoice["account"]["id"] == customer and invoice["invoiceDate"] == "2026-02-01"
    run = await bill(client, server, "2026-02-01")  # compares the run with its preview
    assert run["status"] == "COMPLETED" and run["totalAmount"] == "99.46"
    # after the run there is nothing new to bill: the preview is empty too
    assert await preview_unwritten(client, server, "2026-02-01") == []


async def test_a_read_key_previews_and_the_input_is_checked_as_billRun_checks_it(
        client: Client, server: LiveServer) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    first, second = await account(client, "First"), await account(client, "Second")
    for owner in (first, second):
        await subscribe(client, owner, "2026-01-01")
    read = await server.create_key(client.tenant_id, "read")
    both = await billing_preview(client, "2026-01-01")
    assert sorted(i["account"]["id"] for i in both) == sorted([first, second])
    only = (await client.gql(BILLING_PREVIEW, {"input": {
        "targetDate": "2026-01-01", "invoiceDate": "2026-01-05", "accountIds": [second]}},
        key=read))["billingPreview"]
    assert [(i["account"]["id"], i["invoiceDate"], i["amount"]) for i in only] == [
        (second, "2026-01-05", "10.00")]
    async with server.new_tenant("Elsewhere") as other:
        foreign = await account(other, "Foreign")
    bad: dict[str, Any]
    for bad in ({"accountIds": []}, {"accountIds": [foreign]}, {"accountIds": ["nope"]},
                {"targetDate": "2099-01-01"}):
        variables = {"input": {"targetDate": "2026-01-01", **bad}}
        previewed = await client.error(BILLING_PREVIEW, variables)
        run = await client.error("mutation($input: BillRunInput!) { billRun(input: $input) "
                                 "{ id } }", variables)
        assert (previewed["message"], previewed["extensions"]) == (
            run["message"], run["extensions"]), bad


async def test_the_preview_transaction_refuses_writes(server: LiveServer) -> None:
    engine = make_engine(server.database_url, pool_size=1, max_overflow=0)
    try:
        async with tx.read_only(engine) as conn:
            with pytest.raises(DBAPIError) as refused:
                await conn.execute(text("SELECT nextval('invoice_number_seq')"))
            assert tx.sqlstate(refused.value) == "25006"  # read_only_sql_transaction
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- previewOrder

async def _existing(client: Client, **action: Any) -> tuple[str, str]:
    await catalog(client)  # A 10.00 monthly, B 120.00 annual, SETUP 50 once: MRR 20.00
    customer = await create_account(client)
    sub = await order_subscribe(client, customer, **action)
    return customer, str(sub["subscriptionNumber"])


def _without_new(invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Invoices with the line fields that only a placed order can know (the id and
    generated number of a subscription it creates) left out."""
    return [{**inv, "lines": [{k: v for k, v in ln.items()
                               if k not in ("subscription", "subscriptionNumber")}
                              for ln in inv["lines"]]} for inv in invoices]


async def _check_preview(client: Client, server: LiveServer, input: dict[str, Any],
                         target: str = "2026-06-01") -> dict[str, Any]:
    """previewOrder writes nothing; then the real order: its MRR as previewed, and a
    billing preview equal to the order preview's invoices."""
    before = await database_state(server, client.tenant_id)
    preview = (await client.gql(PREVIEW_ORDER, {"input": input, "target": target}))[
        "previewOrder"]
    assert await database_state(server, client.tenant_id) == before, "previewOrder wrote"
    for change in preview["contractedMrr"]:
        assert change["before"] == await contracted_mrr(client, change["account"]["id"])
    placed = await create_order(client, input)
    for change in preview["contractedMrr"]:
        assert change["after"] == await contracted_mrr(client, change["account"]["id"])
    touched = {s["subscription"]["ownerAccount"]["id"] for s in placed["subscriptions"]}
    assert touched <= {c["account"]["id"] for c in preview["contractedMrr"]}
    subs = [s["subscription"] for s in placed["subscriptions"]]
    assert [(s["status"], s["mrr"], s["ownerAccount"]["id"], s["invoiceOwnerAccount"]["id"])
            for s in subs] == [
        (s["status"], s["mrr"], s["ownerAccount"]["id"], s["invoiceOwnerAccount"]["id"])
        for s in preview["subscriptions"]]
    # the invoices of the accounts the order concerns: those it touches and its
    # subscriptions' invoice owners
    concerned = sorted({c["account"]["id"] for c in preview["contractedMrr"]}
                       | {s["invoiceOwnerAccount"]["id"] for s in subs})
    later = await billing_preview(client, target, accountIds=concerned)
    assert _without_new(preview["invoices"]) == _without_new(later)
    return dict(preview)


async def test_preview_create_subscription_numbers_it_as_the_real_order_would(
        client: Client, server: LiveServer) -> None:
    await catalog(client)
    customer = await create_account(client)
    input = order(customer, entry(create_action(customer)))
    preview = await _check_preview(client, server, input, target="2026-01-01")
    [sub] = preview["subscriptions"]
    assert (sub["subscriptionNumber"], sub["status"], sub["mrr"]) == (None, "ACTIVE", "20.00")
    assert [(c["before"], c["after"]) for c in preview["contractedMrr"]] == [("0.00", "20.00")]
    [invoice] = preview["invoices"]
    # Jan: A 10.00, B 120.00 a year billed monthly = 10.00, SETUP 50 once
    assert invoice["amount"] == "70.00"
    assert {ln["subscription"] for ln in invoice["lines"]} == {None}
    # the preview consumed no number: the real order's subscription has the number the
    # preview's lines were described with
    data = await client.gql("{ subscriptions(first: 5) { edges { node { subscriptionNumber } } } }")
    [number] = [e["node"]["subscriptionNumber"] for e in data["subscriptions"]["edges"]]
    assert all(f"({number})" in ln["description"] for ln in invoice["lines"])


async def test_preview_order_invoices_only_the_accounts_it_concerns(
        client: Client, server: LiveServer) -> None:
    await catalog(client)
    bystander = await create_account(client, "Bystander")
    await order_subscribe(client, bystander)  # billable too, but not this order's
    customer = await create_account(client)
    preview = await _check_preview(client, server, order(customer, entry(create_action(
        customer))), target="2026-01-01")
    # Jan: A 10.00 + B 10.00 a month + SETUP 50.00 once = 70.00, for the customer only
    assert [(i["account"]["id"], i["amount"]) for i in preview["invoices"]] == [
        (customer, "70.00")]
    everyone = await billing_preview(client, "2026-01-01")
    assert {i["account"]["id"] for i in everyone} == {bystander, customer}


@pytest.mark.parametrize("action", [
    {"type": "ADD_PRODUCT", "effectiveDate": "2026-02-01",
     "item": {"productCode": "A", "quantity": 2, "price": "8"}},
    {"type": "UPDATE_PRODUCT", "effectiveDate": "2026-03-01",
     "item": {"productCode": "A", "quantity": 3}},
    {"type": "REMOVE_PRODUCT", "effectiveDate": "2026-02-15"},
    {"type": "SUSPEND", "effectiveDate": "2026-02-01"},
    {"type": "CANCEL_SUBSCRIPTION", "effectiveDate": "2026-04-01"},
    {"type": "RENEW_SUBSCRIPTION"},
], ids=lambda a: a["type"])
async def test_preview_each_change_action(client: Client, server: LiveServer,
                                          action: dict[str, Any]) -> None:
    binding = {"bindingInformation": {"bindingPeriod": "MONTH"}} if (
        action["type"] == "RENEW_SUBSCRIPTION") else {}
    customer, number = await _existing(client, billingTerms=terms(**binding))
    await bill(client, server, "2026-01-01")  # January billed: later changes correct it
    if action["type"] in ("UPDATE_PRODUCT", "REMOVE_PRODUCT"):
        data = await client.gql("query($n: String!) { subscription(subscriptionNumber: $n) "
                                "{ items { id product { code } } } }", {"n": number})
        [item] = [i for i in data["subscription"]["items"] if i["product"]["code"] == "A"]
        action = {**action, "itemId": item["id"]}
    input = {**order(customer, entry(action, number=number)), "orderDate": "2026-01-01"}
    preview = await _check_preview(client, server, input)
    assert [s["subscriptionNumber"] for s in preview["subscriptions"]] == [number]


async def test_preview_resume(client: Client, server: LiveServer) -> None:
    customer, number = await _existing(client)
    await create_order(client, {**order(customer, entry(
        {"type": "SUSPEND", "effectiveDate": "2026-02-01"}, number=number))})
    input = order(customer, entry({"type": "RESUME", "effectiveDate": "2026-03-10"},
                                  number=number))
    preview = await _check_preview(client, server, input)
    assert preview["subscriptions"][0]["status"] == "ACTIVE"


async def test_preview_owner_transfer_moves_the_mrr(client: Client, server: LiveServer) -> None:
    customer, number = await _existing(client)
    new_owner = await create_account(client, "New owner")
    payer = await create_account(client, "Payer")
    input = order(customer, entry({"type": "OWNER_TRANSFER", "effectiveDate": "2026-03-01",
                                   "newSubscriptionOwnerAccountId": new_owner,
                                   "newInvoiceOwnerAccountId": payer}, number=number))
    preview = await _check_preview(client, server, input)
    mrr = {c["account"]["id"]: (c["before"], c["after"]) for c in preview["contractedMrr"]}
    assert mrr[customer] == ("20.00", "0.00") and mrr[new_owner] == ("0.00", "20.00")
    # through June: the customer pays Jan and Feb, the payer Mar..Jun
    owners = {i["account"]["id"]: i["amount"] for i in preview["invoices"]}
    assert owners[payer] == "80.00"  # 4 months x 20.00


async def test_a_failing_order_preview_answers_createOrder_s_error(
        client: Client, server: LiveServer) -> None:
    customer, number = await _existing(
        client, billingTerms=terms(bindingInformation={"bindingPeriod": "ANNUAL"}))
    read = await server.create_key(client.tenant_id, "read")
    inputs = [
        order(customer, entry({"type": "CANCEL_SUBSCRIPTION", "effectiveDate": "2026-06-01"},
                              number=number)),  # BINDING_PERIOD_ACTIVE
        order(customer, entry(create_action(customer, items=[{"productCode": "NOPE"}]))),
        order("not-an-id", entry(create_action(customer))),
        order(customer, entry(create_action(customer), number=number)),  # number taken
        order(customer),
    ]
    before = await database_state(server, client.tenant_id)
    previewed = [await client.error(PREVIEW_ORDER, {"input": i}, key=read) for i in inputs]
    assert await database_state(server, client.tenant_id) == before
    # (a failed mutation leaves its audit record: compared after the previews)
    created = [await client.error(CREATE_ORDER, {"input": i}) for i in inputs]
    assert [(e["message"], e["extensions"]) for e in previewed] == [
        (e["message"], e["extensions"]) for e in created]
    assert len({e["extensions"]["code"] for e in created}) >= 3


async def test_preview_order_with_a_read_key_and_no_target_lists_no_invoices(
        client: Client, server: LiveServer) -> None:
    await catalog(client)
    customer = await create_account(client)
    read = await server.create_key(client.tenant_id, "read")
    preview = (await client.gql(PREVIEW_ORDER, {"input": order(customer, entry(
        create_action(customer)))}, key=read))["previewOrder"]
    assert preview["invoices"] == [] and Decimal(preview["subscriptions"][0]["mrr"]) == 20
