"""An invoice owner billed for many items has its invoice streamed: written in chunks
while the next chunk's lines are computed, in one transaction (invoicing.write_stream).

Streaming is forced here on small owners (`STREAM_ITEMS` 1, `CHUNK_ITEMS` 2): every
run is checked against billingPreview, which computes every line at once
(`bill_run_support.bill`), so the streamed invoice must hold the same lines in the same
order with the same discounts, taxes and totals."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from billgraph.services.billing import bill_runs, invoicing
from tests.api.adjustment_support import adjusted, apply, detailed, discount, tax_rate, totals
from tests.api.bill_run_support import (
    account,
    bill,
    get,
    ledger,
    order,
    plan,
    start,
    subscribe,
    transactions_of,
    worker_state,
)
from tests.support import Client, LiveServer

GERMANY = {"billingAddress": {"country": "DE", "region": "BY", "city": "München"}}


@pytest.fixture(autouse=True)
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Owners with more than one item streamed, two items a chunk."""
    monkeypatch.setattr(bill_runs, "STREAM_ITEMS", 1)
    monkeypatch.setattr(invoicing, "CHUNK_ITEMS", 2)


@pytest.fixture
async def catalog(client: Client) -> None:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"),
               ("SUPPORT", "RECURRING", "30.00", "MONTHLY"))
    await discount(client, "F15", "FIXED_AMOUNT", "15.00")
    await discount(client, "P20", "PERCENTAGE", "20")
    await tax_rate(client, "DE-VAT", "19", "DE")


async def reseller_with_end_users(client: Client) -> tuple[str, str, list[dict[str, Any]]]:
    """A German reseller billed for four end users' subscriptions (six items, so three
    chunks), and a small owner of one item (billed at once, beside the stream)."""
    reseller = await account(client, "Reseller", **GERMANY)
    small = await account(client, "Small", **GERMANY)
    users = [await account(client, f"User {n}") for n in range(4)]
    subs = [
        await subscribe(client, users[0], "2026-01-01", invoice_owner=reseller,
                        items=[{"productCode": "SEAT"}, {"productCode": "SUPPORT"}]),
        await subscribe(client, users[1], "2026-01-01", invoice_owner=reseller,
                        items=[{"productCode": "SEAT", "quantity": 3}]),
        await subscribe(client, users[2], "2026-01-10", invoice_owner=reseller,
                        items=[{"productCode": "SEAT"}]),
        await subscribe(client, users[3], "2026-01-01", invoice_owner=reseller,
                        items=[{"productCode": "SUPPORT"}, {"productCode": "SEAT"}]),
    ]
    await apply(client, subs[0]["subscriptionNumber"], "F15")
    await apply(client, subs[1]["subscriptionNumber"], "P20")
    await subscribe(client, small, "2026-01-01", items=[{"productCode": "SEAT"}])
    return reseller, small, subs


async def positions(server: LiveServer, account_id: str) -> list[list[int]]:
    rows = await server.sql(
        "SELECT i.id, l.position FROM invoices i JOIN invoice_lines l ON l.tenant_id = "
        "i.tenant_id AND l.invoice_id = i.id WHERE i.account_id = CAST(:a AS uuid) "
        "ORDER BY i.invoice_number, l.position", a=account_id)
    by_invoice: dict[Any, list[int]] = {}
    for r in rows:
        by_invoice.setdefault(r["id"], []).append(r["position"])
    return list(by_invoice.values())


async def test_a_streamed_invoice_equals_the_one_computed_at_once(
        client: Client, server: LiveServer, catalog: None) -> None:
    reseller, small, _ = await reseller_with_end_users(client)
    run = await bill(client, server, "2026-01-10")  # compared line by line with the preview
    assert (run["status"], run["accountsProcessed"], run["invoicesCreated"]) == (
        "COMPLETED", 2, 2)
    [inv] = await detailed(client, reseller)
    assert adjusted(inv) == [
        # user 0: 40.00 less F15 spread 10:30 (3.75, 11.25); 19 % of 6.25 and 18.75
        ("2026-01-01", "10.00", "3.75", "1.19"),
        ("2026-01-01", "30.00", "11.25", "3.56"),
        # user 1: 3 seats, 20 % off: 24.00 net, 19 % = 4.56
        ("2026-01-01", "30.00", "6.00", "4.56"),
        # user 2: Jan 10..31 = 22/31 of 10.00 = 7.10; 19 % = 1.349 -> 1.35
        ("2026-01-10", "7.10", "0.00", "1.35"),
        # user 3: SEAT before SUPPORT (product code order)
        ("2026-01-01", "10.00", "0.00", "1.90"),
        ("2026-01-01", "30.00", "0.00", "5.70"),
    ]
    # 117.10 - 21.00 + 18.26 = 114.36
    assert totals(inv) == ("117.10", "21.00", "18.26", "114.36")
    assert inv["status"] == "POSTED" and inv["balance"] == "114.36"
    assert await positions(server, reseller) == [[0, 1, 2, 3, 4, 5]]
    [other] = await detailed(client, small)
    assert totals(other) == ("10.00", "0.00", "1.90", "11.90")
    assert Decimal(run["totalAmount"]) == Decimal("114.36") + Decimal("11.90")
    # the stream in its own transaction, the small owner in another
    assert await transactions_of(server, run["id"]) == [1, 1]
    metrics = await client.gql("query($id: ID!) { account(id: $id) { metrics { balance } } }",
                               {"id": reseller})
    assert metrics["account"]["metrics"]["balance"] == "114.36"
    # nothing new: the stream writes no invoice, and the owners count as processed
    again = await bill(client, server, "2026-01-10")
    assert (again["status"], again["accountsProcessed"], again["invoicesCreated"],
            again["totalAmount"]) == ("COMPLETED", 2, 0, "0")


async def test_a_streamed_owner_takes_its_share_of_a_transferred_subscription(
        client: Client, server: LiveServer, catalog: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A subscription moved from the reseller (streamed) to a small owner (2 items: not
    streamed) mid-way: each gets its periods, the subscription computed for each."""
    monkeypatch.setattr(bill_runs, "STREAM_ITEMS", 2)
    batches: list[invoicing.BatchLines] = []
    batch = invoicing.Billing.batch

    def seen(self: invoicing.Billing, *args: Any) -> invoicing.BatchLines:
        batches.append(batch(self, *args))
        return batches[-1]

    monkeypatch.setattr(invoicing.Billing, "batch", seen)
    reseller, small, subs = await reseller_with_end_users(client)
    moved = subs[1]
    user = (await client.gql(
        "query($n: String!) { subscription(subscriptionNumber: $n) { ownerAccount { id } } }",
        {"n": moved["subscriptionNumber"]}))["subscription"]["ownerAccount"]["id"]
    await order(client, user, moved["subscriptionNumber"], {
        "type": "OWNER_TRANSFER", "effectiveDate": "2026-02-15",
        "newInvoiceOwnerAccountId": small})
    run = await bill(client, server, "2026-03-01")
    assert run["status"] == "COMPLETED"
    [lines] = batches  # the run's one batch: the reseller streamed, the small owner not
    assert [s.owner for s in lines.streams] == [uuid.UUID(reseller)]
    assert list(lines.lines) == [uuid.UUID(small)]
    [inv] = await detailed(client, reseller)
    # January and February of the moved subscription stay with the reseller, March not
    moved_lines = [ln for ln in inv["lines"] if ln["amount"] == "30.00"
                   and ln["discountAmount"] == "6.00"]
    assert [ln["servicePeriodStart"] for ln in moved_lines] == ["2026-01-01", "2026-02-01"]
    [other] = await detailed(client, small)
    assert ("2026-03-01", "30.00", "6.00", "4.56") in adjusted(other)
    assert await positions(server, reseller) == [list(range(len(inv["lines"])))]


async def test_a_failure_while_streaming_keeps_nothing_of_the_invoice(
        client: Client, server: LiveServer, catalog: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Computing the third chunk fails after two were written: the transaction keeps
    none of them, and the run fails with a coded error."""
    reseller, _, _ = await reseller_with_end_users(client)
    chunks = invoicing.Billing._chunks

    def failing(self: invoicing.Billing, *args: Any) -> Iterator[Any]:
        for n, chunk in enumerate(chunks(self, *args)):
            if n == 2:
                raise RuntimeError("the third chunk cannot be computed")
            yield chunk

    monkeypatch.setattr(invoicing.Billing, "_chunks", failing)
    run = await bill(client, server, "2026-01-10", check_preview=False)
    assert run["status"] == "FAILED" and run["errors"][0]["code"] == "INTERNAL"
    assert await detailed(client, reseller) == []
    rows = await server.sql(
        "SELECT (SELECT count(*) FROM invoice_lines WHERE tenant_id = CAST(:t AS uuid)) AS l, "
        "(SELECT count(*) FROM billing_ledger WHERE tenant_id = CAST(:t AS uuid)) AS e",
        t=client.tenant_id)
    # at most the small owner's one line (billed beside the stream) and its entry
    assert rows[0]["l"] == rows[0]["e"] and rows[0]["l"] <= 1


async def test_a_streamed_owner_whose_periods_another_run_took_is_recomputed(
        client: Client, server: LiveServer, catalog: None, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Run B reads the reseller's facts; before B writes, run A bills the reseller. B's
    stream fails on the ledger key and keeps nothing; B recomputes the reseller from
    fresh facts (nothing new) and bills the small owner once."""
    reseller, small, _ = await reseller_with_end_users(client)
    run_a = await start(client, "2026-01-10", accountIds=[reseller])
    run_b = await start(client, "2026-01-10")
    tenant = uuid.UUID(client.tenant_id)
    caplog.set_level(logging.INFO, logger="billgraph.services.billing.bill_runs")
    read_by_b = invoicing.owner_lines
    a_ran: list[bool] = []

    async with worker_state(server) as state:
        async def then_a_bills_the_reseller(*args: Any, **kwargs: Any) -> Any:
            lines = await read_by_b(*args, **kwargs)
            if not a_ran:
                a_ran.append(True)
                await bill_runs.run_bill_run(state, state.events.publish, tenant,
                                             uuid.UUID(run_a["id"]))
            return lines

        monkeypatch.setattr(bill_runs, "owner_lines", then_a_bills_the_reseller)
        await bill_runs.run_bill_run(state, state.events.publish, tenant,
                                     uuid.UUID(run_b["id"]))
    a, b = await get(client, run_a["id"]), await get(client, run_b["id"])
    # 114.36 for the reseller (as above) by A; only the small owner's 11.90 by B
    assert (a["status"], a["invoicesCreated"], a["totalAmount"]) == ("COMPLETED", 1, "114.36")
    assert (b["status"], b["accountsProcessed"], b["invoicesCreated"], b["totalAmount"],
            b["errors"]) == ("COMPLETED", 2, 1, "11.90", [])
    assert any(f"recomputing account {reseller}" in r.getMessage() for r in caplog.records)
    entries = await ledger(server, client.tenant_id)
    assert len(entries) == 7
    assert max(Counter((e["item_id"], e["period_start"]) for e in entries).values()) == 1
    assert len(await detailed(client, reseller)) == 1 and len(await detailed(client, small)) == 1
