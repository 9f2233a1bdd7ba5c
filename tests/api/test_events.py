"""metricsUpdated over graphql-transport-ws: auth, tenant isolation, delivery."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.typing import Subprotocol

from tests.support import Client, GraphQLErrors, LiveServer, Subscriber

METRICS_UPDATED = """subscription($id: ID) { metricsUpdated(accountId: $id) {
  account { id name } metrics { balance stale lastMetricsUpdate } } }"""
REFRESH = "mutation($id: ID!) { refreshMetrics(accountId: $id) { lastMetricsUpdate } }"


async def new_account(client: Client, name: str, partner: bool = False) -> str:
    data = await client.gql(
        "mutation($n: String!, $p: Boolean) { createAccount(input: {name: $n, partnerAccount: $p})"
        " { id } }", {"n": name, "p": partner})
    return str(data["createAccount"]["id"])


async def test_metrics_updated_after_a_recompute(server: LiveServer, client: Client) -> None:
    account = await new_account(client, "Watched")
    async with Subscriber(server.url, client.key) as sub:
        await sub.ack()
        await sub.subscribe(METRICS_UPDATED, {"id": account})
        await asyncio.sleep(0.2)
        refreshed = await client.gql(REFRESH, {"id": account})
        event = (await sub.next())["metricsUpdated"]
        assert event["account"] == {"id": account, "name": "Watched"}
        assert event["metrics"]["lastMetricsUpdate"] == refreshed["refreshMetrics"][
            "lastMetricsUpdate"]
        assert event["metrics"]["stale"] is False


async def test_filter_by_account_and_all_accounts(server: LiveServer, client: Client) -> None:
    one, two = await new_account(client, "One"), await new_account(client, "Two")
    async with Subscriber(server.url, client.key) as only_one, \
            Subscriber(server.url, client.key) as every:
        await only_one.ack()
        await every.ack()
        await only_one.subscribe(METRICS_UPDATED, {"id": one})
        await every.subscribe(METRICS_UPDATED, {})
        await asyncio.sleep(0.2)
        await client.gql(REFRESH, {"id": two})
        await client.gql(REFRESH, {"id": one})
        assert (await every.next())["metricsUpdated"]["account"]["id"] == two
        assert (await every.next())["metricsUpdated"]["account"]["id"] == one
        assert (await only_one.next())["metricsUpdated"]["account"]["id"] == one


async def test_events_never_cross_tenants(server: LiveServer, client: Client) -> None:
    mine = await new_account(client, "Mine")
    async with server.new_tenant("eavesdropper") as other:
        theirs = await new_account(other, "Theirs")
        async with Subscriber(server.url, other.key) as sub:
            await sub.ack()
            await sub.subscribe(METRICS_UPDATED, {})
            await asyncio.sleep(0.2)
            await client.gql(REFRESH, {"id": mine})
            await sub.nothing_for(1.0)
            await other.gql(REFRESH, {"id": theirs})
            assert (await sub.next())["metricsUpdated"]["account"]["id"] == theirs
        async with Subscriber(server.url, other.key) as sub:
            await sub.ack()
            await sub.subscribe(METRICS_UPDATED, {"id": mine})
            with pytest.raises(GraphQLErrors) as refused:
                await sub.next()
            assert refused.value.codes == ["NOT_FOUND"]


async def test_read_keys_may_subscribe_and_header_auth_works(
    server: LiveServer, client: Client
) -> None:
    account = await new_account(client, "Header")
    read_key = await server.create_key(client.tenant_id, "read")
    async with Subscriber(server.url, None, header_key=read_key) as sub:
        await sub.ack()
        await sub.subscribe(METRICS_UPDATED, {"id": account})
        await asyncio.sleep(0.2)
        await client.gql(REFRESH, {"id": account})
        assert (await sub.next())["metricsUpdated"]["account"]["id"] == account


@pytest.mark.parametrize("key", [None, "bgk_wrong"])
async def test_bad_or_missing_credentials_are_closed(server: LiveServer, key: str | None) -> None:
    async with Subscriber(server.url, key) as sub:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await sub.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code in (4401, 4403)


async def test_only_graphql_transport_ws(server: LiveServer) -> None:
    url = server.url.replace("http://", "ws://") + "/graphql"
    with pytest.raises((websockets.InvalidStatus, websockets.ConnectionClosed)):
        async with websockets.connect(url, subprotocols=[Subprotocol("graphql-ws")]) as ws:
            await ws.send('{"type": "connection_init", "payload": {}}')
            await ws.recv()
