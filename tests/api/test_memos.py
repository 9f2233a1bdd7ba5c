"""Credit memos and debit memos: create, apply, unapply, refund; metrics after every step."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.billing_support import (
    CREDIT_MEMO,
    DEBIT_MEMO,
    METRICS,
    ZERO,
    account_metrics,
    create_account,
    create_invoice,
    invoice,
    metrics,
)
from tests.support import Client, LiveServer, without_reason

CREATE_CM = f"""mutation($input: CreateCreditMemoInput!, $key: String) {{
  createCreditMemo(input: $input, idempotencyKey: $key) {{ {CREDIT_MEMO} }} }}"""
APPLY_CM = f"""mutation($id: ID!, $apps: [ApplicationInput!]!) {{
  applyCreditMemo(creditMemoId: $id, applications: $apps) {{ {CREDIT_MEMO} }} }}"""
UNAPPLY_CM = f"""mutation($id: ID!, $apps: [ApplicationInput!]!) {{
  unapplyCreditMemo(creditMemoId: $id, applications: $apps) {{ {CREDIT_MEMO} }} }}"""
REFUND_CM = f"""mutation($id: ID!, $amount: Decimal!) {{
  refundCreditMemo(creditMemoId: $id, amount: $amount) {{ {CREDIT_MEMO} }} }}"""
CREATE_DM = f"""mutation($input: CreateDebitMemoInput!, $key: String) {{
  createDebitMemo(input: $input, idempotencyKey: $key) {{ {DEBIT_MEMO} }} }}"""
CREATE_PAYMENT = f"""mutation($input: CreatePaymentInput!) {{ createPayment(input: $input) {{
  unappliedAmount account {{ metrics {{ {METRICS} }} }} }} }}"""
CANCEL = "mutation($id: ID!) { cancelInvoice(id: $id) { status } }"
UNKNOWN_ID = "0190f0f0-0000-7000-8000-000000000000"


def amounts(memo: dict[str, Any]) -> tuple[str, str, str, str]:
    return (memo["amount"], memo["appliedAmount"], memo["refundedAmount"],
            memo["unappliedAmount"])


async def create_credit_memo(client: Client, account: str, amount: str, *apps: dict[str, str],
                             **extra: Any) -> dict[str, Any]:
    data = await client.gql(CREATE_CM, {"input": {"accountId": account, "amount": amount,
                                                  "applications": list(apps) or None, **extra}})
    return dict(data["createCreditMemo"])


async def create_debit_memo(client: Client, account: str, amount: str,
                            **extra: Any) -> dict[str, Any]:
    data = await client.gql(CREATE_DM, {"input": {"accountId": account, "amount": amount,
                                                  **extra}})
    return dict(data["createDebitMemo"])


async def test_credit_memo_flow_keeps_every_metric_exact(client: Client) -> None:
    account = await create_account(client)
    inv = await create_invoice(client, account, "100.00", date="2026-03-31")
    debit = await create_debit_memo(client, account, "40.00", reason="late fee")
    assert debit["account"]["metrics"] == metrics(
        invoices="100.00", debit_memos="40.00", balance="140.00", payments="0.00",
        credit_memos="0.00", credit="0.00", last="2026-03-31")

    memo = await create_credit_memo(client, account, "50", {"invoiceId": inv["id"],
                                                            "amount": "30.00"},
                                    reason="goodwill")
    assert (memo["memoNumber"][:2], memo["status"], memo["reason"]) == ("CM", "POSTED",
                                                                        "goodwill")
    assert amounts(memo) == ("50.00", "30.00", "0.00", "20.00")
    assert memo["account"]["metrics"] == metrics(
        invoices="70.00", debit_memos="40.00", balance="110.00", payments="0.00",
        credit_memos="20.00", credit="20.00", last="2026-03-31")

    applied = (await client.gql(APPLY_CM, {"id": memo["id"], "apps": [
        {"debitMemoId": debit["id"], "amount": "15.00"}]}))["applyCreditMemo"]
    assert amounts(applied) == ("50.00", "45.00", "0.00", "5.00")
    assert applied["account"]["metrics"] == metrics(
        invoices="70.00", debit_memos="25.00", balance="95.00", payments="0.00",
        credit_memos="5.00", credit="5.00", last="2026-03-31")

    unapplied = (await client.gql(UNAPPLY_CM, {"id": memo["id"], "apps": [
        {"invoiceId": inv["id"], "amount": "10.00"}]}))["unapplyCreditMemo"]
    assert amounts(unapplied) == ("50.00", "35.00", "0.00", "15.00")
    assert unapplied["account"]["metrics"] == metrics(
        invoices="80.00", debit_memos="25.00", balance="105.00", payments="0.00",
        credit_memos="15.00", credit="15.00", last="2026-03-31")

    refunded = (await client.gql(REFUND_CM, {"id": memo["id"], "amount": "5.00"}))
    assert amounts(refunded["refundCreditMemo"]) == ("50.00", "35.00", "5.00", "10.00")
    assert refunded["refundCreditMemo"]["account"]["metrics"] == metrics(
        invoices="80.00", debit_memos="25.00", balance="105.00", payments="0.00",
        credit_memos="10.00", credit="10.00", last="2026-03-31")

    payment = (await client.gql(CREATE_PAYMENT, {"input": {
        "accountId": account, "amount": "30.00",
        "applications": [{"debitMemoId": debit["id"], "amount": "25.00"}]}}))["createPayment"]
    assert payment["unappliedAmount"] == "5.00"
    assert payment["account"]["metrics"] == metrics(
        invoices="80.00", debit_memos="0.00", balance="80.00", payments="5.00",
        credit_memos="10.00", credit="15.00", last="2026-03-31")
    assert (await invoice(client, inv["id"]))["balance"] == "80.00"
    memos = await client.gql(
        "query($c: ID!, $d: ID!) { creditMemo(id: $c) { unappliedAmount reason } "
        "debitMemo(id: $d) { balance reason } }", {"c": memo["id"], "d": debit["id"]})
    assert memos == {"creditMemo": {"unappliedAmount": "10.00", "reason": "goodwill"},
                     "debitMemo": {"balance": "0.00", "reason": "late fee"}}


async def test_cancel_invoice_with_credit_applied(client: Client) -> None:
    account = await create_account(client)
    inv = await create_invoice(client, account, "20.00")
    memo = await create_credit_memo(client, account, "20.00",
                                    {"invoiceId": inv["id"], "amount": "20.00"})
    assert (await invoice(client, inv["id"]))["balance"] == "0.00"
    error = await client.error(CANCEL, {"id": inv["id"]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "id",
                                   "reason": "has_applications"}
    await client.gql(UNAPPLY_CM, {"id": memo["id"], "apps": [{"invoiceId": inv["id"],
                                                             "amount": "20.00"}]})
    assert (await client.gql(CANCEL, {"id": inv["id"]}))["cancelInvoice"]["status"] == "CANCELED"
    assert await account_metrics(client, account) == metrics(
        invoices="0.00", debit_memos="0.00", balance="0.00", payments="0.00",
        credit_memos="20.00", credit="20.00", last=None)
    error = await client.error(APPLY_CM, {"id": memo["id"], "apps": [
        {"invoiceId": inv["id"], "amount": "1.00"}]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "applications[0].invoiceId",
                                   "reason": "not_posted"}


async def memo_state(server: LiveServer, client: Client, account: str) -> dict[str, Any]:
    [docs] = await server.sql(
        "SELECT (SELECT count(*) FROM applications WHERE tenant_id = :t) AS applications, "
        "(SELECT count(*) FROM refunds WHERE tenant_id = :t) AS refunds, "
        "(SELECT count(*) FROM credit_memos WHERE tenant_id = :t) AS credit_memos, "
        "(SELECT count(*) FROM debit_memos WHERE tenant_id = :t) AS debit_memos, "
        "(SELECT array_agg(applied_amount || '/' || refunded_amount ORDER BY id) "
        " FROM credit_memos WHERE tenant_id = :t) AS memo_amounts, "
        "(SELECT array_agg(balance ORDER BY id) FROM invoices WHERE tenant_id = :t) AS invoices",
        t=client.tenant_id)
    return {**docs, "metrics": await account_metrics(client, account)}


@pytest.mark.parametrize(("mutation", "variables", "code", "field"), [
    (APPLY_CM, {"apps": [{"invoiceId": "invoice", "amount": "25.01"}]},
     "BAD_USER_INPUT", "applications[0].amount"),
    (APPLY_CM, {"apps": [{"invoiceId": "invoice", "debitMemoId": "invoice", "amount": "1"}]},
     "BAD_USER_INPUT", "applications[0]"),
    (APPLY_CM, {"apps": [{"invoiceId": "invoice", "amount": "0.001"}]},
     "BAD_USER_INPUT", "applications[0].amount"),
    (UNAPPLY_CM, {"apps": [{"invoiceId": "invoice", "amount": "5.01"}]},
     "BAD_USER_INPUT", "applications[0].amount"),
    (REFUND_CM, {"amount": "25.01"}, "BAD_USER_INPUT", "amount"),
    (REFUND_CM, {"amount": "0"}, "BAD_USER_INPUT", "amount"),
    (CREATE_CM, {"input": {"accountId": "account", "amount": "-1"}}, "BAD_USER_INPUT", "amount"),
    (CREATE_CM, {"input": {"accountId": "account", "amount": "10.00", "applications": [
        {"invoiceId": "invoice", "amount": "10.01"}]}},
     "BAD_USER_INPUT", "applications[0].amount"),
    (CREATE_CM, {"input": {"accountId": UNKNOWN_ID, "amount": "1"}}, "NOT_FOUND", "accountId"),
    (CREATE_DM, {"input": {"accountId": "account", "amount": "12.345"}},
     "BAD_USER_INPUT", "amount"),
    (CREATE_DM, {"input": {"accountId": "account", "amount": "0"}}, "BAD_USER_INPUT", "amount"),
    (CREATE_DM, {"input": {"accountId": "bad-id", "amount": "1"}}, "NOT_FOUND", "accountId"),
])
async def test_memo_validation_changes_nothing(server: LiveServer, client: Client,
                                               mutation: str, variables: dict[str, Any],
                                               code: str, field: str) -> None:
    account = await create_account(client)
    inv = await create_invoice(client, account, "10.00")
    memo = await create_credit_memo(client, account, "30.00",
                                    {"invoiceId": inv["id"], "amount": "5.00"})
    names = {"invoice": inv["id"], "account": account}

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return names.get(value, value)

    before = await memo_state(server, client, account)
    error = await client.error(mutation, {"id": memo["id"], **resolve(variables)})
    assert without_reason(error) == {"code": code, "field": field}
    assert await memo_state(server, client, account) == before


async def test_unknown_credit_memo(client: Client) -> None:
    for mutation, variables in (
            (APPLY_CM, {"apps": [{"invoiceId": UNKNOWN_ID, "amount": "1"}]}),
            (UNAPPLY_CM, {"apps": [{"invoiceId": UNKNOWN_ID, "amount": "1"}]}),
            (REFUND_CM, {"amount": "1"})):
        error = await client.error(mutation, {"id": UNKNOWN_ID, **variables})
        assert error["extensions"] == {"code": "NOT_FOUND", "field": "creditMemoId"}
    for query in ("creditMemo", "debitMemo"):
        error = await client.error(f'{{ {query}(id: "{UNKNOWN_ID}") {{ id }} }}')
        assert error["extensions"]["code"] == "NOT_FOUND"


async def test_memo_idempotency(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    credit = {"accountId": account, "amount": "5.00", "reason": "r"}
    first = (await client.gql(CREATE_CM, {"input": credit, "key": "cm"}))["createCreditMemo"]
    again = (await client.gql(CREATE_CM, {"input": credit, "key": "cm"}))["createCreditMemo"]
    assert first["id"] == again["id"]
    debit = {"accountId": account, "amount": "7.00"}
    first = (await client.gql(CREATE_DM, {"input": debit, "key": "dm"}))["createDebitMemo"]
    again = (await client.gql(CREATE_DM, {"input": debit, "key": "dm"}))["createDebitMemo"]
    assert first["id"] == again["id"]
    error = await client.error(CREATE_DM, {"input": {**debit, "amount": "8.00"}, "key": "dm"})
    assert error["extensions"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    [row] = await server.sql(
        "SELECT (SELECT count(*) FROM credit_memos WHERE tenant_id = :t) AS cm, "
        "(SELECT count(*) FROM debit_memos WHERE tenant_id = :t) AS dm", t=client.tenant_id)
    assert (row["cm"], row["dm"]) == (1, 1)
    assert await account_metrics(client, account) == metrics(
        invoices="0.00", debit_memos="7.00", balance="7.00", payments="0.00",
        credit_memos="5.00", credit="5.00", last=None)


async def test_zero_decimal_currency(client: Client) -> None:
    account = await create_account(client, "Tokyo", currency="JPY")
    debit = await create_debit_memo(client, account, "1500")
    memo = await create_credit_memo(client, account, "1000.0",
                                    {"debitMemoId": debit["id"], "amount": "400"})
    assert amounts(memo) == ("1000", "400", "0", "600")
    assert memo["account"]["metrics"] == metrics(
        invoices="0", debit_memos="1100", balance="1100", payments="0", credit_memos="600",
        credit="600", last=None)
    error = await client.error(REFUND_CM, {"id": memo["id"], "amount": "10.5"})
    assert without_reason(error) == {"code": "BAD_USER_INPUT", "field": "amount"}


async def test_partner_account_memos_wait_for_the_refresh(client: Client) -> None:
    partner = await create_account(client, "Reseller", partnerAccount=True)
    stale = {**ZERO, "stale": True}
    inv = await create_invoice(client, partner, "90.00", date="2026-06-30")
    debit = await create_debit_memo(client, partner, "10.00")
    memo = await create_credit_memo(client, partner, "50.00",
                                    {"invoiceId": inv["id"], "amount": "20.00"})
    steps = [
        debit,
        memo,
        (await client.gql(APPLY_CM, {"id": memo["id"], "apps": [
            {"debitMemoId": debit["id"], "amount": "10.00"}]}))["applyCreditMemo"],
        (await client.gql(UNAPPLY_CM, {"id": memo["id"], "apps": [
            {"invoiceId": inv["id"], "amount": "5.00"}]}))["unapplyCreditMemo"],
        (await client.gql(REFUND_CM, {"id": memo["id"], "amount": "4.00"}))["refundCreditMemo"],
    ]
    assert [s["account"]["metrics"] for s in steps] == [stale] * 5
    assert amounts(steps[-1]) == ("50.00", "25.00", "4.00", "21.00")
    refreshed = await client.gql(
        f"mutation($id: ID!) {{ refreshMetrics(accountId: $id) {{ {METRICS} }} }}",
        {"id": partner})
    assert refreshed["refreshMetrics"] == metrics(
        invoices="75.00", debit_memos="0.00", balance="75.00", payments="0.00",
        credit_memos="21.00", credit="21.00", last="2026-06-30")
