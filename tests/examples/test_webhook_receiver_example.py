"""examples/webhook_receiver.py: registers itself, verifies and prints an event, exits."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.api.webhook_support import hooked_server
from tests.examples.test_examples import start
from tests.support import Client


async def test_the_example_receiver_prints_a_verified_event(database_url: str) -> None:
    async with hooked_server(database_url) as live:
        tenant_id, key = await live.create_tenant(f"receiver-{uuid.uuid4().hex[:8]}")
        client = Client(live.http, key, tenant_id)
        process = await start(live, key, "webhook_receiver.py", "--port", "0",
                              "--events", "DEBIT_MEMO_POSTED", "--count", "1")
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert first.startswith("listening on http://127.0.0.1:") and "DEBIT_MEMO_POSTED" in first
        account = (await client.gql('mutation { createAccount(input: {name: "ERP"}) '
                                    '{ id } }'))["createAccount"]["id"]
        await client.gql('mutation($a: ID!) { createDebitMemo(input: {accountId: $a, '
                         'amount: "25.00"}) { id } }', {"a": account})
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        kind, event_id, word, data = line.split(" ", 3)
        assert (kind, word) == ("DEBIT_MEMO_POSTED", "verified:") and event_id.startswith("evt_")
        assert json.loads(data) == {**json.loads(data), "accountId": account, "amount": "25.00",
                                    "balance": "25.00", "currency": "USD"}
        assert await asyncio.wait_for(process.wait(), 30) == 0
        # it deleted its endpoint on the way out
        assert (await client.gql("{ webhookEndpoints { id } }"))["webhookEndpoints"] == []
