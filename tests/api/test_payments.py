"""Payments: create, apply, unapply, refund; every metric after every step; validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.billing_support import (
    DEBIT_MEMO,
    METRICS,
    PAYMENT,
    ZERO,
    account_metrics,
    create_account,
    create_invoice,
    invoice,
    metrics,
)
from tests.support import Client, LiveServer, without_reason

CREATE = f"""mutation($input: CreatePaymentInput!, $key: String) {{
  createPayment(input: $input, idempotencyKey: $key) {{ {PAYMENT} }} }}"""
APPLY = f"""mutation($id: ID!, $apps: [ApplicationInput!]!) {{
  applyPayment(paymentId: $id, applications: $apps) {{ {PAYMENT} }} }}"""
UNAPPLY = f"""mutation($id: ID!, $apps: [ApplicationInput!]!) {{
  unapplyPayment(paymentId: $id, applications: $apps) {{ {PAYMENT} }} }}"""
REFUND = f"""mutation($id: ID!, $amount: Decimal!) {{
  refundPayment(paymentId: $id, amount: $amount) {{ {PAYMENT} }} }}"""
DEBIT = f"""mutation($input: CreateDebitMemoInput!) {{ createDebitMemo(input: $input) {{
  {DEBIT_MEMO} }} }}"""
UNKNOWN_ID = "0190f0f0-0000-7000-8000-000000000000"


def amounts(payment: dict[str, Any]) -> tuple[str, str, str, str]:
    return (payment["amount"], payment["appliedAmount"], payment["refundedAmount"],
            payment["unappliedAmount"])


async def create_payment(client: Client, account: str, amount: str,
                         *apps: dict[str, str], **extra: Any) -> dict[str, Any]:
    data = await client.gql(CREATE, {"input": {"accountId": account, "amount": amount,
                                               "applications": list(apps) or None, **extra}})
    return dict(data["createPayment"])


async def create_debit_memo(client: Client, account: str, amount: str) -> dict[str, Any]:
    data = await client.gql(DEBIT, {"input": {"accountId": account, "amount": amount}})
    return dict(data["createDebitMemo"])


async def debit_memo_balance(client: Client, memo_id: str) -> str:
    data = await client.gql("query($id: ID!) { debitMemo(id: $id) { balance } }", {"id": memo_id})
    return str(data["debitMemo"]["balance"])


async def test_payment_flow_keeps_every_metric_exact(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    first = await create_invoice(client, account, "100.00", date="2026-01-31")
    second = await create_invoice(client, account, "50.00", date="2026-02-28")
    memo = await create_debit_memo(client, account, "30")
    assert (memo["memoNumber"][:2], memo["amount"], memo["balance"], memo["status"]) == (
        "DM", "30.00", "30.00", "POSTED")
    assert memo["account"]["metrics"] == metrics(
        invoices="150.00", debit_memos="30.00", balance="180.00", payments="0.00",
        credit_memos="0.00", credit="0.00", last="2026-02-28")

    payment = await create_payment(client, account, "120",
                                   {"invoiceId": first["id"], "amount": "80.00"})
    assert payment["paymentNumber"].startswith("P")
    assert payment["effectiveDate"] == datetime.now(UTC).date().isoformat()
    assert amounts(payment) == ("120.00", "80.00", "0.00", "40.00")
    assert payment["account"]["metrics"] == metrics(
        invoices="70.00", debit_memos="30.00", balance="100.00", payments="40.00",
        credit_memos="0.00", credit="40.00", last="2026-02-28")

    applied = (await client.gql(APPLY, {"id": payment["id"], "apps": [
        {"debitMemoId": memo["id"], "amount": "30.00"},
        {"invoiceId": second["id"], "amount": "10"}]}))["applyPayment"]
    assert amounts(applied) == ("120.00", "120.00", "0.00", "0.00")
    assert applied["account"]["metrics"] == metrics(
        invoices="60.00", debit_memos="0.00", balance="60.00", payments="0.00",
        credit_memos="0.00", credit="0.00", last="2026-02-28")

    unapplied = (await client.gql(UNAPPLY, {"id": payment["id"], "apps": [
        {"invoiceId": first["id"], "amount": "30.00"},
        {"debitMemoId": memo["id"], "amount": "5.00"}]}))["unapplyPayment"]
    assert amounts(unapplied) == ("120.00", "85.00", "0.00", "35.00")
    assert unapplied["account"]["metrics"] == metrics(
        invoices="90.00", debit_memos="5.00", balance="95.00", payments="35.00",
        credit_memos="0.00", credit="35.00", last="2026-02-28")
    assert (await invoice(client, first["id"]))["balance"] == "50.00"
    assert (await invoice(client, second["id"]))["balance"] == "40.00"
    assert await debit_memo_balance(client, memo["id"]) == "5.00"

    refunded = (await client.gql(REFUND, {"id": payment["id"], "amount": "15"}))["refundPayment"]
    assert amounts(refunded) == ("120.00", "85.00", "15.00", "20.00")
    assert refunded["account"]["metrics"] == metrics(
        invoices="90.00", debit_memos="5.00", balance="95.00", payments="20.00",
        credit_memos="0.00", credit="20.00", last="2026-02-28")
    too_much = await client.error(REFUND, {"id": payment["id"], "amount": "20.01"})
    assert without_reason(too_much) == {"code": "BAD_USER_INPUT", "field": "amount"}
    rest = (await client.gql(REFUND, {"id": payment["id"], "amount": "20.00"}))["refundPayment"]
    assert amounts(rest) == ("120.00", "85.00", "35.00", "0.00")
    assert rest["account"]["metrics"] == metrics(
        invoices="90.00", debit_memos="5.00", balance="95.00", payments="0.00",
        credit_memos="0.00", credit="0.00", last="2026-02-28")

    ledger = await server.sql(
        "SELECT invoice_id, debit_memo_id, amount FROM applications WHERE payment_id = :p "
        "ORDER BY created_at, amount DESC", p=payment["id"])
    names = {first["id"]: "first", second["id"]: "second", memo["id"]: "memo"}
    assert sorted((names[str(r["invoice_id"] or r["debit_memo_id"])], str(r["amount"]))
                  for r in ledger) == [("first", "-30.00"), ("first", "80.00"),
                                       ("memo", "-5.00"), ("memo", "30.00"),
                                       ("second", "10.00")]
    refunds = await server.sql("SELECT amount FROM refunds WHERE payment_id = :p ORDER BY amount",
                               p=payment["id"])
    assert [str(r["amount"]) for r in refunds] == ["15.00", "20.00"]


async def snapshot(server: LiveServer, client: Client, account: str) -> dict[str, Any]:
    """Everything a rejected request must leave alone."""
    [docs] = await server.sql(
        "SELECT (SELECT count(*) FROM applications WHERE tenant_id = :t) AS applications, "
        "(SELECT count(*) FROM refunds WHERE tenant_id = :t) AS refunds, "
        "(SELECT count(*) FROM payments WHERE tenant_id = :t) AS payments, "
        "(SELECT array_agg(applied_amount || '/' || refunded_amount ORDER BY id) "
        " FROM payments WHERE tenant_id = :t) AS payment_amounts, "
        "(SELECT array_agg(balance ORDER BY id) FROM invoices WHERE tenant_id = :t) AS invoices, "
        "(SELECT array_agg(balance ORDER BY id) FROM debit_memos WHERE tenant_id = :t) AS memos",
        t=client.tenant_id)
    return {**docs, "metrics": await account_metrics(client, account)}


@pytest.fixture
async def documents(server: LiveServer, client: Client) -> dict[str, str]:
    """An account with a 100.00 invoice, a 30.00 debit memo and a 120.00 payment; and
    a draft, a canceled invoice, an invoice of another account and one in another currency."""
    account = await create_account(client)
    other = await create_account(client, "Other")
    inv = await create_invoice(client, account, "100.00")
    draft = await create_invoice(client, account, "10.00", post=False)
    canceled = await create_invoice(client, account, "10.00")
    await client.gql("mutation($id: ID!) { cancelInvoice(id: $id) { id } }",
                     {"id": canceled["id"]})
    foreign = await create_invoice(client, other, "10.00")
    euro = await create_invoice(client, account, "10.00")
    await server.sql("UPDATE invoices SET currency = 'EUR' WHERE id = :id", id=euro["id"])
    memo = await create_debit_memo(client, account, "30.00")
    payment = await create_payment(client, account, "120.00")
    return {"account": account, "invoice": inv["id"], "draft": draft["id"],
            "canceled": canceled["id"], "foreign": foreign["id"], "euro": euro["id"],
            "memo": memo["id"], "payment": payment["id"]}


APPLY_CASES = [
    ([{"invoiceId": "invoice", "debitMemoId": "memo", "amount": "1.00"}],
     "BAD_USER_INPUT", "applications[0]"),
    ([{"amount": "1.00"}], "BAD_USER_INPUT", "applications[0]"),
    ([{"invoiceId": "invoice", "amount": "0"}], "BAD_USER_INPUT", "applications[0].amount"),
    ([{"invoiceId": "invoice", "amount": "-1.00"}], "BAD_USER_INPUT", "applications[0].amount"),
    ([{"invoiceId": "invoice", "amount": "1.001"}], "BAD_USER_INPUT", "applications[0].amount"),
    ([{"invoiceId": "invoice", "amount": "10.00"}, {"debitMemoId": "memo", "amount": "30.01"}],
     "BAD_USER_INPUT", "applications[1].amount"),
    ([{"invoiceId": "invoice", "amount": "60.00"}, {"invoiceId": "invoice", "amount": "40.01"}],
     "BAD_USER_INPUT", "applications[1].amount"),
    ([{"invoiceId": "invoice", "amount": "100.00"}, {"debitMemoId": "memo", "amount": "20.01"}],
     "BAD_USER_INPUT", "applications[1].amount"),
    ([{"invoiceId": "draft", "amount": "1.00"}], "BAD_USER_INPUT", "applications[0].invoiceId"),
    ([{"invoiceId": "invoice", "amount": "1.00"}, {"invoiceId": "canceled", "amount": "1.00"}],
     "BAD_USER_INPUT", "applications[1].invoiceId"),
    ([{"invoiceId": "foreign", "amount": "1.00"}], "BAD_USER_INPUT", "applications[0].invoiceId"),
    ([{"invoiceId": "euro", "amount": "1.00"}], "BAD_USER_INPUT", "applications[0].invoiceId"),
    ([{"invoiceId": UNKNOWN_ID, "amount": "1.00"}], "NOT_FOUND", "applications[0].invoiceId"),
    ([{"debitMemoId": "not-an-id", "amount": "1.00"}], "NOT_FOUND",
     "applications[0].debitMemoId"),
    ([], "BAD_USER_INPUT", "applications"),
]


def resolve(apps: list[dict[str, str]], documents: dict[str, str]) -> list[dict[str, str]]:
    return [{k: documents.get(v, v) if k != "amount" else v for k, v in app.items()}
            for app in apps]


@pytest.mark.parametrize(("apps", "code", "field"), APPLY_CASES)
async def test_apply_validation_changes_nothing(server: LiveServer, client: Client,
                                                documents: dict[str, str],
                                                apps: list[dict[str, str]], code: str,
                                                field: str) -> None:
    before = await snapshot(server, client, documents["account"])
    error = await client.error(APPLY, {"id": documents["payment"],
                                       "apps": resolve(apps, documents)})
    assert without_reason(error) == {"code": code, "field": field}
    assert error["message"].startswith(field) or code == "NOT_FOUND"
    assert await snapshot(server, client, documents["account"]) == before


@pytest.mark.parametrize(("apps", "code", "field"), APPLY_CASES[:-1])
async def test_create_with_bad_applications_creates_nothing(
    server: LiveServer, client: Client, documents: dict[str, str],
    apps: list[dict[str, str]], code: str, field: str,
) -> None:
    before = await snapshot(server, client, documents["account"])
    error = await client.error(CREATE, {"input": {
        "accountId": documents["account"], "amount": "120.00",
        "applications": resolve(apps, documents)}})
    assert without_reason(error) == {"code": code, "field": field}
    assert await snapshot(server, client, documents["account"]) == before


@pytest.mark.parametrize(("applied", "unapply", "field"), [
    (["10.00"], ["10.01"], "applications[0].amount"),
    (["10.00"], ["6.00", "4.01"], "applications[1].amount"),
    ([], ["0.01"], "applications[0].amount"),
    (["10.00"], ["0"], "applications[0].amount"),
    (["10.00"], ["0.001"], "applications[0].amount"),
])
async def test_unapply_validation_changes_nothing(
    server: LiveServer, client: Client, documents: dict[str, str],
    applied: list[str], unapply: list[str], field: str,
) -> None:
    target = {"invoiceId": documents["invoice"]}
    for amount in applied:
        await client.gql(APPLY, {"id": documents["payment"],
                                 "apps": [{**target, "amount": amount}]})
    before = await snapshot(server, client, documents["account"])
    error = await client.error(UNAPPLY, {"id": documents["payment"],
                                         "apps": [{**target, "amount": a} for a in unapply]})
    assert without_reason(error) == {"code": "BAD_USER_INPUT", "field": field}
    assert await snapshot(server, client, documents["account"]) == before


@pytest.mark.parametrize("amount", ["0", "-1.00", "1.001", "120.01"])
async def test_refund_validation_changes_nothing(server: LiveServer, client: Client,
                                                 documents: dict[str, str], amount: str) -> None:
    before = await snapshot(server, client, documents["account"])
    error = await client.error(REFUND, {"id": documents["payment"], "amount": amount})
    assert without_reason(error) == {"code": "BAD_USER_INPUT", "field": "amount"}
    assert await snapshot(server, client, documents["account"]) == before


@pytest.mark.parametrize(("input", "code", "field"), [
    ({"amount": "0"}, "BAD_USER_INPUT", "amount"),
    ({"amount": "-5.00"}, "BAD_USER_INPUT", "amount"),
    ({"amount": "5.001"}, "BAD_USER_INPUT", "amount"),
    ({"accountId": UNKNOWN_ID}, "NOT_FOUND", "accountId"),
    ({"accountId": "nope"}, "NOT_FOUND", "accountId"),
])
async def test_create_payment_validation(server: LiveServer, client: Client,
                                         documents: dict[str, str], input: dict[str, str],
                                         code: str, field: str) -> None:
    before = await snapshot(server, client, documents["account"])
    error = await client.error(CREATE, {"input": {"accountId": documents["account"],
                                                  "amount": "5.00", **input}})
    assert without_reason(error) == {"code": code, "field": field}
    assert await snapshot(server, client, documents["account"]) == before


async def test_unknown_payment(client: Client) -> None:
    for mutation, variables in ((APPLY, {"apps": [{"invoiceId": UNKNOWN_ID, "amount": "1"}]}),
                                (UNAPPLY, {"apps": [{"invoiceId": UNKNOWN_ID, "amount": "1"}]}),
                                (REFUND, {"amount": "1"})):
        error = await client.error(mutation, {"id": UNKNOWN_ID, **variables})
        assert error["extensions"] == {"code": "NOT_FOUND", "field": "paymentId"}
    error = await client.error("query($id: ID!) { payment(id: $id) { id } }", {"id": UNKNOWN_ID})
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_payments_of_another_tenant_are_not_found(server: LiveServer,
                                                        client: Client) -> None:
    account = await create_account(client)
    payment = await create_payment(client, account, "5.00")
    async with server.new_tenant("other") as other:
        error = await other.error(REFUND, {"id": payment["id"], "amount": "1.00"})
        assert error["extensions"] == {"code": "NOT_FOUND", "field": "paymentId"}
        mine = await create_account(other)
        error = await other.error(CREATE, {"input": {"accountId": account, "amount": "1.00"}})
        assert error["extensions"] == {"code": "NOT_FOUND", "field": "accountId"}
        inv = await create_invoice(other, mine, "5.00")
    error = await client.error(APPLY, {"id": payment["id"],
                                       "apps": [{"invoiceId": inv["id"], "amount": "1.00"}]})
    assert error["extensions"] == {"code": "NOT_FOUND", "field": "applications[0].invoiceId"}


async def test_zero_decimal_currency(client: Client) -> None:
    account = await create_account(client, "Tokyo", currency="JPY")
    inv = await create_invoice(client, account, "999.5")
    assert inv["amount"] == "1000"
    bad = await client.error(CREATE, {"input": {"accountId": account, "amount": "500.5"}})
    assert without_reason(bad) == {"code": "BAD_USER_INPUT", "field": "amount"}
    assert "JPY" in bad["message"]
    payment = await create_payment(client, account, "500.0",
                                   {"invoiceId": inv["id"], "amount": "300"})
    assert amounts(payment) == ("500", "300", "0", "200")
    assert payment["account"]["metrics"] == metrics(
        invoices="700", debit_memos="0", balance="700", payments="200", credit_memos="0",
        credit="200", last="2026-01-31")
    half = await client.error(APPLY, {"id": payment["id"],
                                      "apps": [{"invoiceId": inv["id"], "amount": "0.5"}]})
    assert without_reason(half) == {"code": "BAD_USER_INPUT", "field": "applications[0].amount"}


async def test_create_payment_idempotency(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    input = {"accountId": account, "amount": "10.00", "effectiveDate": "2026-05-01"}
    first = (await client.gql(CREATE, {"input": input, "key": "pay-1"}))["createPayment"]
    again = (await client.gql(CREATE, {"input": input, "key": "pay-1"}))["createPayment"]
    assert again["id"] == first["id"] and first["effectiveDate"] == "2026-05-01"
    error = await client.error(CREATE, {"input": {**input, "amount": "11.00"}, "key": "pay-1"})
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await account_metrics(client, account))["unappliedPaymentAmount"] == "10.00"
    [row] = await server.sql("SELECT count(*) AS n FROM payments WHERE tenant_id = :t",
                             t=client.tenant_id)
    assert row["n"] == 1


async def test_partner_account_metrics_wait_for_the_refresh(client: Client) -> None:
    partner = await create_account(client, "Reseller", partnerAccount=True)
    stale = {**ZERO, "stale": True}
    inv = await create_invoice(client, partner, "100.00", date="2026-04-30")
    assert inv["account"]["metrics"] == stale
    memo = await create_debit_memo(client, partner, "25.00")
    assert memo["account"]["metrics"] == stale
    payment = await create_payment(client, partner, "60.00",
                                   {"invoiceId": inv["id"], "amount": "40.00"})
    assert payment["account"]["metrics"] == stale
    applied = (await client.gql(APPLY, {"id": payment["id"], "apps": [
        {"debitMemoId": memo["id"], "amount": "5.00"}]}))["applyPayment"]
    assert applied["account"]["metrics"] == stale
    unapplied = (await client.gql(UNAPPLY, {"id": payment["id"], "apps": [
        {"invoiceId": inv["id"], "amount": "10.00"}]}))["unapplyPayment"]
    assert unapplied["account"]["metrics"] == stale
    refunded = (await client.gql(REFUND, {"id": payment["id"], "amount": "3.00"}))
    assert refunded["refundPayment"]["account"]["metrics"] == stale
    assert amounts(refunded["refundPayment"]) == ("60.00", "35.00", "3.00", "22.00")
    refreshed = await client.gql(
        f"mutation($id: ID!) {{ refreshMetrics(accountId: $id) {{ {METRICS} }} }}",
        {"id": partner})
    assert refreshed["refreshMetrics"] == metrics(
        invoices="70.00", debit_memos="20.00", balance="90.00", payments="22.00",
        credit_memos="0.00", credit="22.00", last="2026-04-30")
