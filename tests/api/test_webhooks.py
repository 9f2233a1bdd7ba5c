"""Webhooks (SPEC §14): the events of orders, bill runs, payments and partner refreshes,
signed and checked by a receiver on 127.0.0.1 (tests/webhook_receiver.py verifies every
signature with its own implementation of the Standard Webhooks scheme)."""

from __future__ import annotations

import json
from typing import Any

from billgraph.api import schema
from billgraph.schema.scopes import AdminScope
from billgraph.services.webhooks import EVENT_TYPES
from tests.api import bill_run_support as bills
from tests.api.webhook_support import (
    DELIVERIES,
    ENDPOINT,
    deliveries,
    endpoint,
    hooked_server,
    tenant,
    until,
)
from tests.support import Client, LiveServer
from tests.webhook_receiver import Receiver

PAY = """mutation($input: CreatePaymentInput!) { createPayment(input: $input) { id } }"""
PAYMENT_EVENTS = ("PAYMENT_CREATED", "PAYMENT_APPLIED")


def data_of(receiver: Receiver, type: str) -> list[dict[str, Any]]:
    return [e["data"] for e in receiver.events() if e["type"] == type]


def types_of(receiver: Receiver) -> list[str]:
    return sorted(e["type"] for e in receiver.events())


async def test_an_order_a_bill_run_and_a_payment_send_exactly_the_subscribed_events(
        database_url: str) -> None:
    everything = Receiver()
    payments_only = Receiver()
    async with everything, payments_only, hooked_server(database_url) as server, \
            tenant(server) as client:
        _, secret = await endpoint(client, everything.url, *EVENT_TYPES)
        _, payments_secret = await endpoint(client, payments_only.url, *PAYMENT_EVENTS)
        everything.secrets.append(secret)
        payments_only.secrets.append(payments_secret)
        await bills.plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
        customer = await bills.account(client, "Customer")
        sub = await bills.subscribe(client, customer, "2026-01-01", cycle_day=1)
        # the order: ORDER_CREATED, SUBSCRIPTION_CREATED, and the synchronous recompute
        await everything.wait_for(3)
        assert types_of(everything) == ["ACCOUNT_METRICS_UPDATED", "ORDER_CREATED",
                                        "SUBSCRIPTION_CREATED"]
        [order] = data_of(everything, "ORDER_CREATED")
        assert order == {"orderId": order["orderId"], "orderNumber": order["orderNumber"],
                         "accountId": customer, "orderDate": "2026-01-01"}
        [created] = data_of(everything, "SUBSCRIPTION_CREATED")
        assert created == {
            "subscriptionId": created["subscriptionId"],
            "subscriptionNumber": sub["subscriptionNumber"], "ownerAccountId": customer,
            "invoiceOwnerAccountId": customer, "status": "ACTIVE", "startDate": "2026-01-01",
            "cancelledOn": None}

        # the bill run (by the server's job runner): one period, Jan 1..31, at 10.00
        run = await bills.start(client, "2026-01-01")
        await everything.wait_for(6)
        [invoice] = data_of(everything, "INVOICE_POSTED")
        assert invoice == {
            "invoiceId": invoice["invoiceId"], "invoiceNumber": invoice["invoiceNumber"],
            "accountId": customer, "status": "POSTED", "currency": "USD", "amount": "10.00",
            "balance": "10.00", "invoiceDate": "2026-01-01", "dueDate": "2026-01-01",
            "billRunId": run["id"]}
        [completed] = data_of(everything, "BILL_RUN_COMPLETED")
        assert completed == {**completed, "billRunId": run["id"], "status": "COMPLETED",
                             "accountsProcessed": 1, "invoicesCreated": 1,
                             "totalAmount": "10.00", "errors": []}

        # the payment of 10.00, applied in full: PAYMENT_CREATED, PAYMENT_APPLIED, metrics
        paid = await client.gql(PAY, {"input": {"accountId": customer, "amount": "10.00",
                                                "applications": [{"invoiceId": invoice[
                                                    "invoiceId"], "amount": "10.00"}]}})
        await everything.wait_for(9)
        await payments_only.wait_for(2)
        payment_id = paid["createPayment"]["id"]
        [payment] = data_of(everything, "PAYMENT_CREATED")
        assert payment == {**payment, "paymentId": payment_id, "accountId": customer,
                           "currency": "USD", "amount": "10.00", "appliedAmount": "0.00",
                           "unappliedAmount": "10.00"}
        [applied] = data_of(everything, "PAYMENT_APPLIED")
        assert applied == {**applied, "paymentId": payment_id, "appliedAmount": "10.00",
                           "unappliedAmount": "0.00", "applications": [
                               {"invoiceId": invoice["invoiceId"], "amount": "10.00"}]}
        # metrics after each of the three writes; the last: 10.00 owed - 10.00 paid = 0.00
        metrics = data_of(everything, "ACCOUNT_METRICS_UPDATED")
        assert [m["balance"] for m in metrics] == ["0.00", "10.00", "0.00"]
        assert metrics[-1] == {**metrics[-1], "accountId": customer, "creditBalance": "0.00",
                               "contractedMrr": "10.00", "lastInvoiceDate": "2026-01-01"}

        assert types_of(everything) == sorted([
            "ORDER_CREATED", "SUBSCRIPTION_CREATED", "INVOICE_POSTED", "BILL_RUN_COMPLETED",
            "PAYMENT_CREATED", "PAYMENT_APPLIED"] + ["ACCOUNT_METRICS_UPDATED"] * 3)
        assert types_of(payments_only) == ["PAYMENT_APPLIED", "PAYMENT_CREATED"]
        for receiver in (everything, payments_only):
            assert receiver.received and all(r.valid for r in receiver.received)
            for r in receiver.received:  # the body's id is the webhook-id
                assert r.event["id"] == r.headers["webhook-id"]
                assert set(r.event) == {"id", "type", "createdAt", "data"}
                assert r.headers["content-type"] == "application/json"
        # each is listed DELIVERED (once its batch is settled), with the very body sent

        async def settled() -> bool:
            return len(await deliveries(client, status="DELIVERED")) == 9 + 2

        await until(settled, what="11 deliveries settled")
        listed = await deliveries(client)
        assert len(listed) == 9 + 2
        bodies = {r.headers["webhook-id"]: r.body.decode() for r in everything.received}
        for d in listed:
            if d["eventId"] in bodies and d["eventType"] not in PAYMENT_EVENTS:
                assert d["payload"] == bodies[d["eventId"]]
            assert (d["attempts"], d["lastResponseStatus"], d["nextAttemptAt"]) == (1, 200, None)


async def test_a_partner_accounts_event_comes_from_the_refresher(database_url: str) -> None:
    receiver = Receiver()
    async with receiver, hooked_server(database_url) as server, tenant(server) as client:
        _, secret = await endpoint(client, receiver.url, "ACCOUNT_METRICS_UPDATED",
                                   "ORDER_CREATED")
        receiver.secrets.append(secret)
        await bills.plan(client, "PLAN", ("SEAT", "RECURRING", "12.00", "MONTHLY"))
        partner = await bills.account(client, "Reseller", partnerAccount=True)
        await bills.subscribe(client, partner, "2026-01-01", cycle_day=1)
        # the write itself sends ORDER_CREATED only: the partner account is left stale
        await receiver.wait_for(1)
        assert types_of(receiver) == ["ORDER_CREATED"]
        await client.gql("mutation { updateTenantSettings(input: "
                         "{metricsRefreshIntervalSeconds: 1}) { id } }")
        await receiver.wait_for(2, timeout=30)
        [metrics] = data_of(receiver, "ACCOUNT_METRICS_UPDATED")
        assert metrics == {**metrics, "accountId": partner, "contractedMrr": "12.00",
                           "balance": "0.00"}
        assert all(r.valid for r in receiver.received)


async def test_endpoint_url_rules_errors_and_scope(server: LiveServer, client: Client) -> None:
    async def field_of(url: str, types: list[str]) -> tuple[str, str]:
        error = await client.error(ENDPOINT, {"input": {"url": url, "eventTypes": types}})
        return error["extensions"]["code"], error["extensions"].get("field")

    bad = ("BAD_USER_INPUT", "input.url")
    assert await field_of("http://example.com/hook", ["ORDER_CREATED"]) == bad
    assert await field_of("ftp://example.com/hook", ["ORDER_CREATED"]) == bad
    assert await field_of("https://user:pw@example.com/", ["ORDER_CREATED"]) == bad
    assert await field_of("not a url", ["ORDER_CREATED"]) == bad
    assert await field_of("https://example.com/", []) == ("BAD_USER_INPUT", "input.eventTypes")
    for url in ("https://example.com/hook", "http://127.0.0.1:9/hook", "http://localhost/x",
                "http://[::1]:8080/"):
        await endpoint(client, url, "ORDER_CREATED")
    listed = (await client.gql("{ webhookEndpoints { url enabled } }"))["webhookEndpoints"]
    assert [e["url"] for e in listed] == ["https://example.com/hook", "http://127.0.0.1:9/hook",
                                          "http://localhost/x", "http://[::1]:8080/"]
    endpoint_id, secret = await endpoint(client, "https://example.com/b", "INVOICE_POSTED",
                                         "ORDER_CREATED", "INVOICE_POSTED")
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 44  # 32 bytes
    updated = await client.gql(
        "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: {enabled: false, "
        "description: \"ERP\"}) { eventTypes enabled disabledReason description } }",
        {"id": endpoint_id})
    assert updated["updateWebhookEndpoint"] == {
        "eventTypes": ["ORDER_CREATED", "INVOICE_POSTED"], "enabled": False,
        "disabledReason": "disabled through the API (updateWebhookEndpoint)",
        "description": "ERP"}
    rotated = await client.gql("mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }",
                               {"id": endpoint_id})
    assert rotated["rotateWebhookSecret"]["secret"] not in (secret, None)
    # a read key can do nothing with webhooks; another tenant sees none of them
    read_key = await server.create_key(client.tenant_id, "read")
    error = await client.error("{ webhookEndpoints { id } }", key=read_key)
    assert error["extensions"]["code"] == "FORBIDDEN"
    error = await client.error(DELIVERIES, key=read_key)
    assert error["extensions"]["code"] == "FORBIDDEN"
    async with server.new_tenant("other") as other:
        assert (await other.gql("{ webhookEndpoints { id } }"))["webhookEndpoints"] == []
        error = await other.error("mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
                                  {"id": endpoint_id})
        assert error["extensions"] == {**error["extensions"], "code": "NOT_FOUND"}
        error = await other.error(DELIVERIES, {"filter": {"endpointId": endpoint_id}})
        assert error["extensions"]["field"] == "filter.endpointId"
    assert await client.gql("mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
                            {"id": endpoint_id}) == {"deleteWebhookEndpoint": True}
    assert len((await client.gql("{ webhookEndpoints { id } }"))["webhookEndpoints"]) == 4


async def test_every_webhook_root_field_needs_an_admin_key(server: LiveServer) -> None:
    graphql = schema._schema
    assert graphql.query_type is not None and graphql.mutation_type is not None
    roots = {**graphql.query_type.fields, **graphql.mutation_type.fields}
    webhook_roots = {name: f for name, f in roots.items() if "ebhook" in name}
    assert len(webhook_roots) == 7
    for name, field in webhook_roots.items():
        definition = field.extensions["strawberry-definition"]
        assert AdminScope in definition.permission_classes, name
    # and as a client sees it: a WRITE key is refused, FORBIDDEN
    tenant_id, key = await server.create_tenant("webhooks-write-key", "write")
    writer = Client(server.http, key, tenant_id)
    for document in ("{ webhookEndpoints { id } }",
                     'mutation { createWebhookEndpoint(input: {url: "http://127.0.0.1:9/h", '
                     "eventTypes: [ORDER_CREATED]}) { secret } }"):
        error = await writer.error(document)
        assert error["extensions"]["code"] == "FORBIDDEN", document


async def test_http_is_allowed_anywhere_with_the_setting(database_url: str) -> None:
    async with hooked_server(database_url, webhook_allow_http=True) as server, \
            tenant(server) as client:
        await endpoint(client, "http://example.com/hook", "ORDER_CREATED")


async def test_a_page_of_deliveries_costs_the_same_statements_for_2_and_20(
        database_url: str) -> None:
    receiver = Receiver()
    async with receiver, hooked_server(database_url, expose_sql_count=True) as server, \
            tenant(server) as client:
        for n in range(20):  # 20 endpoints, one ORDER_CREATED each
            _, secret = await endpoint(client, receiver.url + f"?n={n}", "ORDER_CREATED")
            receiver.secrets.append(secret)
        await bills.plan(client, "PLAN", ("SEAT", "RECURRING", "10.00", "MONTHLY"))
        customer = await bills.account(client, "Customer")
        await bills.subscribe(client, customer, "2026-01-01")
        await until(lambda: _delivered(receiver, 20), what="20 deliveries")

        async def statements(first: int) -> int:
            body = (await client.post(DELIVERIES, {"first": first})).json()
            assert len(body["data"]["webhookDeliveries"]["edges"]) == first
            return int(body["extensions"]["sqlStatements"])

        assert await statements(2) == await statements(20)


async def _delivered(receiver: Receiver, n: int) -> bool:
    return len(receiver.received) >= n


def test_payload_json_is_compact_and_ordered() -> None:
    import uuid
    from datetime import UTC, datetime

    from billgraph.services.webhooks.signing import body
    event = uuid.UUID("01900000-0000-7000-8000-000000000001")
    text = body(event, "ORDER_CREATED", datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
                {"orderId": "x"})
    assert json.loads(text) == {"id": "evt_01900000000070008000000000000001",
                                "type": "ORDER_CREATED", "createdAt": "2026-01-02T03:04:05.678Z",
                                "data": {"orderId": "x"}}
    assert text.startswith('{"id":"evt_')
