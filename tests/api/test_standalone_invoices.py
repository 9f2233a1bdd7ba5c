"""createStandaloneInvoices: amounts, per-item errors, numbers, idempotency, set-based writes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.api.billing_support import (
    CREATE_INVOICES,
    ZERO,
    account_metrics,
    create_account,
    create_invoice,
    create_invoices,
    invoice_input,
    metrics,
)
from tests.support import Client, LiveServer

UNKNOWN_ID = "0190f0f0-0000-7000-8000-000000000000"


async def count_invoices(server: LiveServer, client: Client) -> tuple[int, int]:
    [row] = await server.sql(
        "SELECT (SELECT count(*) FROM invoices WHERE tenant_id = :t) AS invoices, "
        "(SELECT count(*) FROM invoice_lines WHERE tenant_id = :t) AS lines", t=client.tenant_id)
    return row["invoices"], row["lines"]


async def test_line_amounts_round_half_up(client: Client) -> None:
    account = await create_account(client)
    inv = await create_invoice(client, account, invoiceNumber="R-1", lines=[
        {"description": "three at 0.335", "quantity": "3", "unitPrice": "0.335"},
        {"description": "half at 2.01", "quantity": "0.5", "unitPrice": "2.01"},
        {"description": "plain", "unitPrice": "10"},
        {"description": "discount", "unitPrice": "-0.125", "servicePeriodStart": "2026-01-01",
         "servicePeriodEnd": "2026-01-31"},
    ])
    assert [(ln["quantity"], ln["unitPrice"], ln["amount"]) for ln in inv["lines"]] == [
        ("3", "0.335", "1.01"), ("0.5", "2.01", "1.01"), ("1", "10", "10.00"),
        ("1", "-0.125", "-0.13")]
    assert inv["lines"][3]["servicePeriodStart"] == "2026-01-01"
    assert inv["lines"][3]["servicePeriodEnd"] == "2026-01-31"
    assert (inv["amount"], inv["balance"], inv["status"]) == ("11.89", "11.89", "POSTED")
    assert inv["dueDate"] == inv["invoiceDate"] == "2026-01-31"
    assert inv["account"]["metrics"] == metrics(
        invoices="11.89", debit_memos="0.00", balance="11.89", payments="0.00",
        credit_memos="0.00", credit="0.00", last="2026-01-31")


async def test_zero_decimal_currency(client: Client) -> None:
    account = await create_account(client, currency="JPY")
    inv = await create_invoice(client, account, lines=[
        {"description": "a", "unitPrice": "100.5"},
        {"description": "b", "quantity": "3", "unitPrice": "33.3"},
        {"description": "c", "unitPrice": "0.49"},
    ])
    assert [ln["amount"] for ln in inv["lines"]] == ["101", "100", "0"]
    assert (inv["amount"], inv["currency"]) == ("201", "JPY")
    assert inv["account"]["metrics"]["totalInvoiceBalance"] == "201"


async def test_generated_numbers_are_unique(client: Client) -> None:
    account = await create_account(client)
    results = await create_invoices(client, *(invoice_input(account, "1.00") for _ in range(30)))
    numbers = [r["invoice"]["invoiceNumber"] for r in results]
    assert all(re.fullmatch(r"INV\d{8}", n) for n in numbers)
    assert len(set(numbers)) == 30


async def test_drafts_do_not_change_metrics(client: Client) -> None:
    account = await create_account(client)
    draft = await create_invoice(client, account, "12.00", post=False, dueDate="2026-02-15")
    assert (draft["status"], draft["amount"], draft["dueDate"]) == ("DRAFT", "12.00", "2026-02-15")
    assert draft["account"]["metrics"] == ZERO


def item_errors(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, field) of each error; the message starts with the field."""
    for e in result["errors"]:
        assert e["message"].startswith(f"{e['field']}: "), e
    return [(e["code"], e["field"]) for e in result["errors"]]


async def test_each_item_succeeds_or_fails_on_its_own(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    other_currency = await create_account(client, "Yen", currency="JPY")
    await server.sql("INSERT INTO products (tenant_id, id, code, name) "
                     "VALUES (:t, gen_random_uuid(), 'SEAT', 'Seat')", t=client.tenant_id)
    good = invoice_input(account, "5.00")
    line = {"description": "x", "unitPrice": "1.00"}
    cases: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
        (invoice_input(UNKNOWN_ID, "1.00"), [("NOT_FOUND", "inputs[1].accountId")]),
        (invoice_input("not-an-id", "1.00"), [("NOT_FOUND", "inputs[2].accountId")]),
        ({**good, "lines": []}, [("BAD_USER_INPUT", "inputs[3].lines")]),
        ({**good, "lines": [{**line, "description": "  "}]},
         [("BAD_USER_INPUT", "inputs[4].lines[0].description")]),
        ({**good, "lines": [line, {**line, "quantity": "0"}]},
         [("BAD_USER_INPUT", "inputs[5].lines[1].quantity")]),
        ({**good, "lines": [{**line, "quantity": "-2"}]},
         [("BAD_USER_INPUT", "inputs[6].lines[0].quantity")]),
        ({**good, "lines": [{**line, "servicePeriodStart": "2026-02-01",
                             "servicePeriodEnd": "2026-01-31"}]},
         [("BAD_USER_INPUT", "inputs[7].lines[0].servicePeriodEnd")]),
        ({**good, "dueDate": "2026-01-30"}, [("BAD_USER_INPUT", "inputs[8].dueDate")]),
        ({**good, "lines": [{**line, "productCode": "NOPE"}]},
         [("NOT_FOUND", "inputs[9].lines[0].productCode")]),
        ({**good, "invoiceNumber": " "}, [("BAD_USER_INPUT", "inputs[10].invoiceNumber")]),
        ({**good, "dueDate": "2026-01-01", "lines": [{**line, "quantity": "0"}]},
         [("BAD_USER_INPUT", "inputs[11].dueDate"),
          ("BAD_USER_INPUT", "inputs[11].lines[0].quantity")]),
    ]
    inputs = [good, *(c[0] for c in cases),
              {**good, "lines": [{**line, "productCode": "SEAT"}]},
              invoice_input(other_currency, "7")]
    results = await create_invoices(client, *inputs)
    assert len(results) == len(inputs)
    for (_, expected), result in zip(cases, results[1:], strict=False):
        assert result["invoice"] is None
        assert item_errors(result) == expected
    valid = [results[0], results[-2], results[-1]]
    assert all(r["errors"] == [] and r["invoice"]["status"] == "POSTED" for r in valid)
    assert [r["invoice"]["amount"] for r in valid] == ["5.00", "1.00", "7"]
    assert await count_invoices(server, client) == (3, 3)
    [product_line] = await server.sql(
        "SELECT p.code FROM invoice_lines l JOIN products p ON p.tenant_id = l.tenant_id "
        "AND p.id = l.product_id WHERE l.invoice_id = :id", id=results[-2]["invoice"]["id"])
    assert product_line["code"] == "SEAT"
    assert (await account_metrics(client, account))["totalInvoiceBalance"] == "6.00"


async def test_invoice_number_conflicts(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    await create_invoice(client, account, "1.00", invoiceNumber="LEGACY-1")
    results = await create_invoices(
        client,
        invoice_input(account, "2.00", invoiceNumber="LEGACY-1"),
        invoice_input(account, "3.00", invoiceNumber="LEGACY-2"),
        invoice_input(account, "4.00", invoiceNumber="LEGACY-2"),
        invoice_input(account, "5.00", invoiceNumber=" LEGACY-3 "))
    assert item_errors(results[0]) == [("CONFLICT", "inputs[0].invoiceNumber")]
    assert "LEGACY-1" in results[0]["errors"][0]["message"]
    assert results[1]["invoice"]["invoiceNumber"] == "LEGACY-2"
    assert item_errors(results[2]) == [("CONFLICT", "inputs[2].invoiceNumber")]
    assert results[3]["invoice"]["invoiceNumber"] == "LEGACY-3"
    assert await count_invoices(server, client) == (3, 3)
    assert (await account_metrics(client, account))["totalInvoiceBalance"] == "9.00"


async def test_at_most_1000_per_call(server: LiveServer, client: Client) -> None:
    account = await create_account(client)
    error = await client.error(CREATE_INVOICES, {
        "inputs": [invoice_input(account, "1.00") for _ in range(1001)]})
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "inputs"}
    assert await count_invoices(server, client) == (0, 0)
    assert await create_invoices(client) == []


async def test_idempotent_replay_returns_the_same_results(server: LiveServer,
                                                          client: Client) -> None:
    account = await create_account(client)
    inputs = [invoice_input(account, "10.00"), invoice_input(UNKNOWN_ID, "1.00"),
              invoice_input(account, "2.50", post=False)]
    first = await create_invoices(client, *inputs, key="migration-batch-1")
    again = await create_invoices(client, *inputs, key="migration-batch-1")
    assert again == first
    assert item_errors(first[1]) == [("NOT_FOUND", "inputs[1].accountId")]
    assert await count_invoices(server, client) == (2, 2)
    assert (await account_metrics(client, account))["totalInvoiceBalance"] == "10.00"
    error = await client.error(CREATE_INVOICES, {"inputs": inputs[:2], "key": "migration-batch-1"})
    assert error["extensions"] == {"code": "IDEMPOTENCY_KEY_REUSED", "field": "idempotencyKey"}
    assert await count_invoices(server, client) == (2, 2)


@contextlib.contextmanager
def count_statements() -> Iterator[list[str]]:
    """Every SQL statement sent (the live server runs in this process)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def test_writes_are_set_based(server: LiveServer, client: Client) -> None:
    account = await create_account(client)

    async def statements_for(n: int, key: str) -> int:
        inputs = [invoice_input(account, "1.00", "2.00") for _ in range(n)]
        with count_statements() as seen:
            results = await create_invoices(client, *inputs, key=key)
        assert all(r["errors"] == [] for r in results)
        return len(seen)

    small = await statements_for(2, "small")
    large = await statements_for(1000, "large")
    assert large == small
    assert small <= 16
    assert await count_invoices(server, client) == (1002, 2004)
    assert (await account_metrics(client, account))["totalInvoiceBalance"] == "3006.00"


@pytest.mark.slow
async def test_concurrent_batches_into_one_partner_account(server: LiveServer,
                                                           client: Client) -> None:
    partner = await create_account(client, "Reseller", partnerAccount=True)

    async def batch(n: int) -> list[dict[str, Any]]:
        inputs = [invoice_input(partner, "1.10", "0.15", date=f"2026-01-{1 + i % 28:02d}")
                  for i in range(250)]
        return await create_invoices(client, *inputs, key=f"batch-{n}")

    results = [r for rs in await asyncio.gather(*(batch(n) for n in range(4))) for r in rs]
    assert len(results) == 1000 and all(r["errors"] == [] for r in results)
    assert len({r["invoice"]["invoiceNumber"] for r in results}) == 1000
    # the writes left the partner's metrics alone, marked stale for the refresher
    assert await account_metrics(client, partner) == {**ZERO, "stale": True}
    refreshed = await client.gql(
        "mutation($id: ID!) { refreshMetrics(accountId: $id) { totalInvoiceBalance balance "
        "lastInvoiceDate stale } }", {"id": partner})
    assert refreshed["refreshMetrics"] == {"totalInvoiceBalance": "1250.00",
                                           "balance": "1250.00",
                                           "lastInvoiceDate": "2026-01-28", "stale": False}


async def test_a_generated_number_taken_by_hand_is_skipped(server: LiveServer,
                                                            client: Client) -> None:
    account = await create_account(client)
    [row] = await server.sql("SELECT nextval('invoice_number_seq') AS n")
    taken = [f"INV{row['n'] + k:08d}" for k in (1, 2)]
    results = await create_invoices(client, *(invoice_input(account, "1.00", invoiceNumber=n)
                                              for n in taken))
    assert [r["invoice"]["invoiceNumber"] for r in results] == taken
    results = await create_invoices(client, *(invoice_input(account, "2.00") for _ in range(3)))
    numbers = [r["invoice"]["invoiceNumber"] for r in results]
    assert all(r["errors"] == [] for r in results)
    assert len(set(numbers)) == 3 and not set(numbers) & set(taken)
    assert await count_invoices(server, client) == (5, 5)
