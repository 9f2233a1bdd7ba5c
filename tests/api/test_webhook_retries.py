"""Webhook retries (SPEC §14): the schedule, FAILED after the last try, redelivery, an
endpoint disabled after 3 days of failures, secret rotation, redirects, 1 KiB kept."""

from __future__ import annotations

import re

import httpx

from billgraph.services.webhooks.deliveries import RETRIES, retry_delay, schedule_seconds
from tests.api.webhook_support import deliveries, endpoint, hooked_server, tenant, until
from tests.support import Client
from tests.webhook_receiver import Receiver, verify

MEMO = 'mutation($a: ID!) { createDebitMemo(input: {accountId: $a, amount: "5.00"}) { id } }'
REDELIVER = """mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { id status attempts
  eventId } }"""


async def memo(client: Client) -> None:
    """One DEBIT_MEMO_POSTED event (on a new account)."""
    account = (await client.gql('mutation { createAccount(input: {name: "A"}) { id } }'))
    await client.gql(MEMO, {"a": account["createAccount"]["id"]})


def test_the_default_schedule_retries_for_more_than_a_day() -> None:
    # 5 s x (1 + 4 + 16 + ... + 4^7) = 5 x 21,845 = 109,225 s = 30.3 h; with the lowest
    # jitter (x 0.9) 98,302 s = 27.3 h, still more than 24 h = 86,400 s
    assert RETRIES == 8
    assert schedule_seconds(5.0) == 109_225
    assert 0.9 * schedule_seconds(5.0) > 86_400
    delays = [retry_delay(n, 5.0) for n in range(1, RETRIES + 1)]
    assert 4.5 <= delays[0] <= 5.5  # the first retry: the setting, jittered by 10 %
    assert all(0.9 * 5 * 4 ** n <= d <= 1.1 * 5 * 4 ** n for n, d in enumerate(delays))


async def test_failed_after_the_last_retry_then_redelivered(database_url: str) -> None:
    receiver = Receiver(status=500)
    # the whole schedule: 0.0002 s x 21,845 = 4.4 s
    async with receiver, hooked_server(database_url, webhook_retry_base_seconds=0.0002) \
            as server, tenant(server) as client:
        endpoint_id, secret = await endpoint(client, receiver.url, "DEBIT_MEMO_POSTED")
        receiver.secrets.append(secret)
        await memo(client)

        async def failed() -> bool:
            return [d["status"] for d in await deliveries(client)] == ["FAILED"]

        await until(failed, timeout=60, what="FAILED")
        [delivery] = await deliveries(client)
        # 1 try + 8 retries, each answered 500, all with the same webhook-id
        assert (delivery["attempts"], delivery["lastResponseStatus"],
                delivery["nextAttemptAt"]) == (1 + RETRIES, 500, None)
        assert len(receiver.received) == 1 + RETRIES
        assert receiver.ids() == {delivery["eventId"]}
        assert all(r.valid for r in receiver.received)
        metrics = (await server.http.get("/metrics")).text
        assert re.search(r'billgraph_webhook_deliveries_total\{outcome="failed"\} 1\.0', metrics)
        assert f'billgraph_webhook_endpoint_consecutive_failures{{endpoint="{endpoint_id}"}} ' \
               f"{1 + RETRIES}.0" in metrics

        receiver.status = 200
        again = (await client.gql(REDELIVER, {"id": delivery["id"]}))["redeliverWebhook"]
        assert (again["status"], again["eventId"]) == ("PENDING", delivery["eventId"])

        async def delivered() -> bool:
            return [d["status"] for d in await deliveries(client)] == ["DELIVERED"]

        await until(delivered, what="DELIVERED after redelivery")
        [delivery] = await deliveries(client)
        assert (delivery["attempts"], delivery["lastResponseStatus"]) == (2 + RETRIES, 200)
        assert receiver.ids() == {delivery["eventId"]}
        error = await client.error(REDELIVER, {"id": endpoint_id})  # not a delivery's id
        assert error["extensions"] == {"code": "NOT_FOUND", "field": "deliveryId"}


async def test_an_endpoint_failing_for_3_days_is_disabled_until_enabled(
        database_url: str) -> None:
    receiver = Receiver(status=503)
    async with receiver, hooked_server(database_url) as server, tenant(server) as client:
        endpoint_id, secret = await endpoint(client, receiver.url, "DEBIT_MEMO_POSTED")
        receiver.secrets.append(secret)
        # it has been failing since 3 days and a minute ago
        await server.sql("UPDATE webhook_endpoints SET failing_since = now() - interval "
                         "'3 days 1 minute', consecutive_failures = 500 WHERE id = :id",
                         id=endpoint_id)
        await memo(client)

        async def disabled() -> bool:
            listed = (await client.gql("{ webhookEndpoints { enabled } }"))["webhookEndpoints"]
            return bool(listed == [{"enabled": False}])

        await until(disabled, what="the endpoint disabled")
        [row] = (await client.gql("{ webhookEndpoints { disabledReason } }"))["webhookEndpoints"]
        assert re.fullmatch(r"every delivery failed for 3 days \(since \S+Z\); last: HTTP 503",
                            row["disabledReason"]), row
        tries = len(receiver.received)
        assert tries == 1
        await memo(client)  # a disabled endpoint gets no new deliveries
        error = await client.error(REDELIVER, {"id": (await deliveries(client))[0]["id"]})
        assert error["extensions"]["field"] == "deliveryId"
        receiver.status = 200
        enabled = await client.gql(
            "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: true}) "
            "{ enabled disabledReason } }", {"id": endpoint_id})
        assert enabled["updateWebhookEndpoint"] == {"enabled": True, "disabledReason": None}

        async def delivered() -> bool:
            return [d["status"] for d in await deliveries(client)] == ["DELIVERED"]

        await until(delivered, what="the waiting delivery sent once enabled")
        assert len(receiver.ids()) == 1


async def test_during_a_rotation_both_secrets_sign(database_url: str) -> None:
    receiver = Receiver()
    async with receiver, hooked_server(database_url) as server, tenant(server) as client:
        endpoint_id, old = await endpoint(client, receiver.url, "DEBIT_MEMO_POSTED")
        new = (await client.gql("mutation($id: ID!) { rotateWebhookSecret(id: $id) "
                                "{ secret endpoint { id } } }", {"id": endpoint_id})
               )["rotateWebhookSecret"]["secret"]
        receiver.secrets += [old, new]
        await memo(client)
        await receiver.wait_for(1)
        [received] = receiver.received
        assert len(received.headers["webhook-signature"].split(" ")) == 2
        assert verify(new, received.headers, received.body)
        assert verify(old, received.headers, received.body)
        assert not verify(new.replace(new[-6:], "AAAAA="), received.headers, received.body)


async def test_redirects_are_not_followed_and_1_kib_of_an_answer_is_kept(
        database_url: str) -> None:
    receiver = Receiver(status=307)  # Location: /elsewhere; the body is 2,000 bytes
    async with receiver, hooked_server(database_url, webhook_retry_base_seconds=60) as server, \
            tenant(server) as client:
        _, secret = await endpoint(client, receiver.url, "DEBIT_MEMO_POSTED")
        receiver.secrets.append(secret)
        await memo(client)

        async def tried() -> bool:
            rows = await server.sql("SELECT last_response_status AS s, "
                                    "length(last_response_body) AS n FROM webhook_deliveries "
                                    "WHERE tenant_id = :t", t=client.tenant_id)
            return bool(rows and rows[0]["s"] == 307)

        await until(tried, what="one try")
        [row] = await server.sql("SELECT status, length(last_response_body) AS n "
                                 "FROM webhook_deliveries WHERE tenant_id = :t",
                                 t=client.tenant_id)
        assert (row["status"], row["n"]) == ("PENDING", 1024)
        assert receiver.paths == ["/hook"]  # /elsewhere never asked


async def test_metrics_show_the_oldest_pending_delivery(empty_database_url: str) -> None:
    # the gauge is the server's, across tenants: a database without other tests' deliveries
    receiver = Receiver(status=500)
    async with receiver, hooked_server(empty_database_url,
                                       webhook_retry_base_seconds=60) as server, \
            tenant(server) as client:
        _, secret = await endpoint(client, receiver.url, "DEBIT_MEMO_POSTED")
        await memo(client)
        await receiver.wait_for(1)
        async with httpx.AsyncClient(base_url=server.url) as http:
            text = (await http.get("/metrics")).text
        [age] = re.findall(r"^billgraph_webhook_oldest_pending_seconds (\S+)$", text, re.M)
        assert 0 < float(age) < 60
        assert secret
