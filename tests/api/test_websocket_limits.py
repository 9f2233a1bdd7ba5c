"""Websocket limits: connection_init must come in time; subscriptions per connection are capped."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.typing import Subprotocol

from tests.support import Client, LiveServer, Subscriber, start_server

ALL_UPDATES = "subscription { metricsUpdated { account { id } } }"


async def test_a_connection_without_connection_init_is_closed(server: LiveServer) -> None:
    async with start_server(server.database_url, run_workers=False,
                            ws_init_timeout_seconds=0.5) as short:
        url = short.url.replace("http://", "ws://") + "/graphql"
        protocols = [Subprotocol("graphql-transport-ws")]
        async with websockets.connect(url, subprotocols=protocols) as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4408
        # a connection that says connection_init in time is kept
        async with short.new_tenant("in-time") as client, Subscriber(short.url, client.key) as sub:
            await sub.ack()
            await asyncio.sleep(1.0)
            await sub.send({"type": "ping"})
            assert (await sub.receive())["type"] == "pong"


async def test_subscriptions_per_connection_are_capped(server: LiveServer, client: Client) -> None:
    cap = 20  # BILLGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION's default
    async with Subscriber(server.url, client.key) as sub:
        await sub.ack()
        for n in range(cap):
            await sub.subscribe(ALL_UPDATES, op_id=str(n))
        await sub.subscribe(ALL_UPDATES, op_id="one-too-many")
        refused = await sub.receive()
        assert refused["type"] == "error" and refused["id"] == "one-too-many", refused
        assert "limit" in json.dumps(refused["payload"]).lower()
        # the connection stays open; completing one makes room for another
        await sub.send({"id": "0", "type": "complete"})
        await asyncio.sleep(0.2)
        await sub.subscribe(ALL_UPDATES, op_id="room-again")
        await sub.nothing_for(0.5)
        await sub.send({"type": "ping"})
        assert (await sub.receive())["type"] == "pong"


async def test_the_cap_is_a_setting(server: LiveServer) -> None:
    async with start_server(server.database_url, run_workers=False,
                            max_subscriptions_per_connection=2) as small:
        async with small.new_tenant("cap") as client, Subscriber(small.url, client.key) as sub:
            await sub.ack()
            await sub.subscribe(ALL_UPDATES, op_id="a")
            await sub.subscribe(ALL_UPDATES, op_id="b")
            await sub.subscribe(ALL_UPDATES, op_id="c")
            refused = await sub.receive()
            assert (refused["type"], refused["id"]) == ("error", "c")
