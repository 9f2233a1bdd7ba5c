"""A bill run writes the invoices of several owners in one transaction (a write batch);
a write batch that fails keeps nothing and its owners are billed one by one."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from billgraph.services.billing import bill_runs
from billgraph.services.billing.invoicing import owner_lines
from tests.api.bill_run_support import (
    account,
    bill,
    get,
    invoices,
    ledger,
    plan,
    start,
    subscribe,
    transactions_of,
    worker_state,
)
from tests.support import Client, LiveServer

OWNERS = 12


async def owners_of_one_seat(client: Client) -> list[str]:
    await plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
    owners = [await account(client, f"Owner {n}") for n in range(OWNERS)]
    for owner in owners:
        await subscribe(client, owner, "2026-01-01")
    return owners


async def test_owners_are_written_a_write_batch_per_transaction(
        client: Client, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bill_runs, "WRITE_OWNERS", 5)
    owners = await owners_of_one_seat(client)
    done = await bill(client, server, "2026-01-01")
    assert (done["status"], done["accountsProcessed"], done["invoicesCreated"],
            done["totalAmount"]) == ("COMPLETED", OWNERS, OWNERS, "120.00")  # 12 x 10.00
    # 12 owners in write batches of 5: 5, 5 and 2 invoices, a transaction each
    assert await transactions_of(server, done["id"]) == [5, 5, 2]
    numbers = []
    for owner in sorted(owners, key=uuid.UUID):  # write batches are cut in id order
        [invoice] = await invoices(client, owner)
        assert (invoice["amount"], invoice["status"], len(invoice["lines"])) == (
            "10.00", "POSTED", 1)
        numbers.append(invoice["invoiceNumber"])
    assert len(set(numbers)) == OWNERS
    # numbered in id order within each write batch (the batches go side by side)
    for batch in (numbers[:5], numbers[5:10], numbers[10:]):
        assert batch == sorted(batch)


async def test_a_write_batch_colliding_on_one_owner_bills_the_others_once(
        client: Client, server: LiveServer, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Run B reads the facts of its 12 owners (one write batch); before B writes, run A
    bills one of them. B's write batch fails on that owner's ledger key and keeps
    nothing; B then bills the 12 one by one: that owner is recomputed from fresh facts
    (nothing new), the 11 others are billed once."""
    monkeypatch.setattr(bill_runs, "WRITE_OWNERS", OWNERS)
    owners = await owners_of_one_seat(client)
    taken = owners[5]
    run_a = await start(client, "2026-01-01", accountIds=[taken])
    run_b = await start(client, "2026-01-01")
    tenant = uuid.UUID(client.tenant_id)
    caplog.set_level(logging.INFO, logger="billgraph.services.billing.bill_runs")
    read_by_b = owner_lines
    a_ran: list[bool] = []

    async with worker_state(server) as state:
        async def then_a_bills_one(*args: Any, **kwargs: Any) -> Any:
            lines = await read_by_b(*args, **kwargs)
            if not a_ran:  # B's facts are read: A bills `taken` now, before B writes
                a_ran.append(True)
                await bill_runs.run_bill_run(state, state.events.publish, tenant,
                                             uuid.UUID(run_a["id"]))
            return lines

        monkeypatch.setattr(bill_runs, "owner_lines", then_a_bills_one)
        await bill_runs.run_bill_run(state, state.events.publish, tenant,
                                     uuid.UUID(run_b["id"]))
    a, b = await get(client, run_a["id"]), await get(client, run_b["id"])
    assert (a["status"], a["accountsProcessed"], a["invoicesCreated"], a["totalAmount"]) == (
        "COMPLETED", 1, 1, "10.00")
    # B: every owner processed, 11 invoices of 10.00 (the taken owner had nothing new)
    assert (b["status"], b["accountsProcessed"], b["invoicesCreated"], b["totalAmount"],
            b["errors"]) == ("COMPLETED", OWNERS, OWNERS - 1, "110.00", [])
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "failed together" in m]) == 1
    assert [m for m in messages if "recomputing account" in m] == [
        m for m in messages if f"recomputing account {taken}" in m] != []
    # after the failed write batch: one transaction per owner
    assert await transactions_of(server, b["id"]) == [1] * (OWNERS - 1)
    entries = await ledger(server, client.tenant_id)
    assert len(entries) == OWNERS and {e["revision"] for e in entries} == {1}
    assert max(Counter((e["item_id"], e["period_start"]) for e in entries).values()) == 1
    for owner in owners:
        [invoice] = await invoices(client, owner)
        assert invoice["amount"] == "10.00"
        assert invoice["billRun"]["id"] == (run_a if owner == taken else run_b)["id"]
    assert sum(Decimal(r["totalAmount"]) for r in (a, b)) == OWNERS * Decimal("10.00")
