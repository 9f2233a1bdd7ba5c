"""Webhooks (SPEC §14): endpoints, their secrets, deliveries: types, inputs, enums."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info
from billgraph.services.webhooks import signing

from .common import PageInfo


@strawberry.enum(description="What happened: the `type` of a webhook's JSON body.")
class WebhookEventType(Enum):
    ACCOUNT_METRICS_UPDATED = "ACCOUNT_METRICS_UPDATED"
    ORDER_CREATED = "ORDER_CREATED"
    SUBSCRIPTION_CREATED = "SUBSCRIPTION_CREATED"
    SUBSCRIPTION_CANCELLED = "SUBSCRIPTION_CANCELLED"
    INVOICE_POSTED = "INVOICE_POSTED"
    INVOICE_CANCELED = "INVOICE_CANCELED"
    PAYMENT_CREATED = "PAYMENT_CREATED"
    PAYMENT_APPLIED = "PAYMENT_APPLIED"
    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"
    CREDIT_MEMO_POSTED = "CREDIT_MEMO_POSTED"
    DEBIT_MEMO_POSTED = "DEBIT_MEMO_POSTED"
    BILL_RUN_COMPLETED = "BILL_RUN_COMPLETED"
    BILL_RUN_FAILED = "BILL_RUN_FAILED"


@strawberry.enum(description="Where a delivery stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@strawberry.type(description=(
    "A URL that receives the tenant's events of the chosen types as signed POSTs "
    "(Standard Webhooks)."))
class WebhookEndpoint:
    id: strawberry.ID
    url: str = strawberry.field(description="Where events are POSTed (https; http only for "
                                            "loopback hosts unless the server allows it).")
    description: str | None = strawberry.field(description="A note for people.")
    event_types: list[WebhookEventType] = strawberry.field(
        description="The event types sent to this endpoint.")
    enabled: bool = strawberry.field(description="false: nothing is sent (deliveries wait).")
    disabled_reason: str | None = strawberry.field(
        description="Why it was disabled: through the API, or every delivery failing for "
                    "3 days in a row.")
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> WebhookEndpoint:
        return cls(id=strawberry.ID(str(row["id"])), url=row["url"],
                   description=row["description"],
                   event_types=[WebhookEventType(t) for t in row["event_types"]],
                   enabled=row["enabled"], disabled_reason=row["disabled_reason"],
                   created_at=row["created_at"])


@strawberry.type(description="An endpoint with its signing secret (shown only here).")
class WebhookEndpointSecret:
    endpoint: WebhookEndpoint = strawberry.field(description="The endpoint.")
    secret: str = strawberry.field(description=(
        '"whsec_" + base64 of 32 random bytes; the HMAC-SHA256 key is the decoded bytes. '
        "Shown only at creation and rotation."))

    @classmethod
    def from_row(cls, row: RowMapping) -> WebhookEndpointSecret:
        return cls(endpoint=WebhookEndpoint.from_row(row), secret=row["secret"])


@strawberry.type(description="One event for one endpoint: its tries and their outcome.")
class WebhookDelivery:
    id: strawberry.ID
    event_id: str = strawberry.field(
        description="The webhook-id header (and the body's id): the same on every retry.")
    event_type: WebhookEventType = strawberry.field(description="The event's type.")
    status: WebhookDeliveryStatus = strawberry.field(description="Where it stands.")
    attempts: int = strawberry.field(description="Tries so far, redeliveries included.")
    last_attempt_at: dt.datetime | None = strawberry.field(description="When it was last tried.")
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When it is tried next (PENDING only).")
    last_response_status: int | None = strawberry.field(
        description="The HTTP status of the last try's answer (null: none came).")
    payload: str = strawberry.field(description="The JSON body sent.")
    created_at: dt.datetime
    endpoint_id: strawberry.Private[uuid.UUID]

    @classmethod
    def from_row(cls, row: RowMapping) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(str(row["id"])), event_id=signing.event_key(row["event_id"]),
            event_type=WebhookEventType(row["event_type"]),
            status=WebhookDeliveryStatus(row["status"]), attempts=row["attempts"],
            last_attempt_at=row["last_attempt_at"],
            next_attempt_at=row["next_attempt_at"] if row["status"] == "PENDING" else None,
            last_response_status=row["last_response_status"],
            payload=signing.body(row["event_id"], row["event_type"], row["event_created_at"],
                                 row["event_data"]),
            created_at=row["created_at"], endpoint_id=row["endpoint_id"])

    @strawberry.field(description="The endpoint it is for.")
    async def endpoint(self, info: Info) -> WebhookEndpoint:
        return WebhookEndpoint.from_row(
            await info.context.loaders.webhook_endpoint.one(self.endpoint_id))


@strawberry.type
class WebhookDeliveryEdge:
    cursor: str
    node: WebhookDelivery


@strawberry.type
class WebhookDeliveryConnection:
    edges: list[WebhookDeliveryEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Narrows webhookDeliveries; omitted fields do not filter.")
class WebhookDeliveryFilter:
    endpoint_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this endpoint's deliveries.")
    status: WebhookDeliveryStatus | None = strawberry.field(
        default=None, description="Only deliveries in this status.")
    event_type: WebhookEventType | None = strawberry.field(
        default=None, description="Only events of this type.")


@strawberry.input(description="A new webhook endpoint.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description=(
        "https:// URL (http:// only for loopback hosts, or where the server's "
        "BILLGRAPH_WEBHOOK_ALLOW_HTTP allows it); no user info, no fragment."))
    event_types: list[WebhookEventType] = strawberry.field(
        description="The event types to send (at least one).")
    description: str | None = strawberry.field(default=None,
                                               description="A note, up to 2,000 characters.")


@strawberry.input(description="Changes to a webhook endpoint; omitted fields stay as they are.")
class UpdateWebhookEndpointInput:
    url: str | None = strawberry.field(default=None, description="A new URL (same rules).")
    event_types: list[WebhookEventType] | None = strawberry.field(
        default=None, description="The event types to send from now on.")
    description: str | None = strawberry.field(default=None, description="A new note.")
    enabled: bool | None = strawberry.field(default=None, description=(
        "false stops sending (deliveries wait); true sends again and clears "
        "disabledReason."))
