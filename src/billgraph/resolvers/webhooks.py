"""Webhook endpoints and deliveries: queries and mutations (SPEC §14)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.resolvers.mutations import create
from billgraph.schema.common import PageInfo, parse_id, requested_page
from billgraph.schema.scopes import AdminScope
from billgraph.schema.webhooks import (
    CreateWebhookEndpointInput,
    UpdateWebhookEndpointInput,
    WebhookDelivery,
    WebhookDeliveryConnection,
    WebhookDeliveryEdge,
    WebhookDeliveryFilter,
    WebhookEndpoint,
    WebhookEndpointSecret,
)
from billgraph.services.webhooks import deliveries, endpoints


def _input(data: CreateWebhookEndpointInput | UpdateWebhookEndpointInput
           ) -> endpoints.EndpointInput:
    return endpoints.EndpointInput(
        url=data.url, description=data.description,
        event_types=None if data.event_types is None else [t.value for t in data.event_types],
        enabled=getattr(data, "enabled", None))


@strawberry.type
class WebhookQueries:
    @strawberry.field(
        permission_classes=[AdminScope],
        description="The tenant's webhook endpoints, oldest first.")
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpoint]:
        tenant_id = info.context.tenant_id
        async with info.context.state.read() as conn:
            rows = await endpoints.list_endpoints(conn, tenant_id)
        return [WebhookEndpoint.from_row(r) for r in rows]

    @strawberry.field(
        permission_classes=[AdminScope], description="A page of webhook deliveries, newest first.")
    async def webhook_deliveries(self, info: Info, first: int | None = None,
                                 after: str | None = None,
                                 filter: WebhookDeliveryFilter | None = None
                                 ) -> WebhookDeliveryConnection:
        tenant_id = info.context.tenant_id
        page = requested_page(info, first, after)
        filters = deliveries.DeliveryFilter(
            endpoint_id=(parse_id(filter.endpoint_id, "webhook endpoint", "filter.endpointId")
                         if filter and filter.endpoint_id is not None else None),
            status=filter.status.value if filter and filter.status else None,
            event_type=filter.event_type.value if filter and filter.event_type else None)
        async with info.context.state.read() as conn:
            if filters.endpoint_id is not None:  # another tenant's endpoint is NOT_FOUND
                await endpoints.get_endpoint(conn, tenant_id, filters.endpoint_id,
                                             field="filter.endpointId")
            result = await deliveries.list_deliveries(conn, tenant_id, page, filters)
        return WebhookDeliveryConnection(
            edges=[WebhookDeliveryEdge(cursor=c, node=WebhookDelivery.from_row(r))
                   for r, c in zip(result.items, result.cursors, strict=True)],
            page_info=PageInfo.of(result), total_count=result.total_count)


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        permission_classes=[AdminScope], description=(
        "Register an endpoint for the given event types; the answer carries its signing "
        "secret, shown only here and at rotation."))
    async def create_webhook_endpoint(self, info: Info, input: CreateWebhookEndpointInput,
                                      idempotency_key: str | None = None
                                      ) -> WebhookEndpointSecret:
        tenant_id = info.context.tenant_id
        data = _input(input)
        allow_http = info.context.state.settings.webhook_allow_http

        async def read(endpoint_id: uuid.UUID) -> WebhookEndpointSecret:
            async with info.context.state.read() as conn:
                return WebhookEndpointSecret.from_row(
                    await endpoints.get_endpoint(conn, tenant_id, endpoint_id))

        return await create(info, operation="createWebhookEndpoint", key=idempotency_key,
                            payload=lambda: [data.url, data.event_types, data.description],
                            write=lambda w: endpoints.create_endpoint(w, data,
                                                                      allow_http=allow_http),
                            read=read)

    @strawberry.mutation(
        permission_classes=[AdminScope],
        description="Change an endpoint's URL, event types, note or state.")
    async def update_webhook_endpoint(self, info: Info, id: strawberry.ID,
                                      input: UpdateWebhookEndpointInput) -> WebhookEndpoint:
        tenant_id = info.context.tenant_id
        endpoint_id = parse_id(id, "webhook endpoint")
        data = _input(input)
        allow_http = info.context.state.settings.webhook_allow_http

        async def work(writer: Writer) -> WebhookEndpoint:
            return WebhookEndpoint.from_row(await endpoints.update_endpoint(
                writer, endpoint_id, data, allow_http=allow_http))

        return await info.context.state.write(tenant_id, work)

    @strawberry.mutation(
        permission_classes=[AdminScope], description="Delete an endpoint and its deliveries.")
    async def delete_webhook_endpoint(self, info: Info, id: strawberry.ID) -> bool:
        tenant_id = info.context.tenant_id
        endpoint_id = parse_id(id, "webhook endpoint")

        async def work(writer: Writer) -> None:
            await endpoints.delete_endpoint(writer, endpoint_id)

        await info.context.state.write(tenant_id, work)
        return True

    @strawberry.mutation(
        permission_classes=[AdminScope], description=(
        "A new signing secret (shown only here). The previous one keeps signing beside it "
        "for 24 hours: both signatures are sent, space-separated."))
    async def rotate_webhook_secret(self, info: Info, id: strawberry.ID) -> WebhookEndpointSecret:
        tenant_id = info.context.tenant_id
        endpoint_id = parse_id(id, "webhook endpoint")

        async def work(writer: Writer) -> WebhookEndpointSecret:
            return WebhookEndpointSecret.from_row(
                await endpoints.rotate_secret(writer, endpoint_id))

        return await info.context.state.write(tenant_id, work)

    @strawberry.mutation(
        permission_classes=[AdminScope], description=(
        "Send a delivery again now (same webhook-id), with a fresh retry schedule."))
    async def redeliver_webhook(self, info: Info, delivery_id: strawberry.ID) -> WebhookDelivery:
        tenant_id = info.context.tenant_id
        delivery = parse_id(delivery_id, "webhook delivery", "deliveryId")

        async def work(writer: Writer) -> None:
            await deliveries.redeliver(writer, delivery, datetime.now(UTC))

        await info.context.state.write(tenant_id, work)
        async with info.context.state.read() as conn:
            return WebhookDelivery.from_row(await deliveries.get_delivery(conn, tenant_id,
                                                                         delivery))
