"""Webhook endpoints: registration with the URL rules of SPEC §14, secrets and rotation."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db.tx import Writer
from billgraph.models import new_id
from billgraph.services.errors import BadUserInput, NotFound

from . import EVENT_TYPES
from .signing import new_secret

MAX_URL = 2048
MAX_DESCRIPTION = 2000
ROTATION_OVERLAP = timedelta(hours=24)  # the previous secret keeps signing this long


@dataclass
class EndpointInput:
    url: str | None = None
    event_types: Sequence[str] | None = None
    description: str | None = None
    enabled: bool | None = None


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, allow_http: bool, field: str = "url") -> str:
    """https://, or http:// for loopback hosts (or anywhere when `allow_http`)."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise BadUserInput(field, f"must be at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (a bad port raises here)
    except ValueError:
        raise BadUserInput(field, "is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host:
        raise BadUserInput(field, "must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise BadUserInput(field, "must not carry a user name or password")
    if parts.fragment:
        raise BadUserInput(field, "must not have a #fragment")
    if parts.scheme == "http" and not (allow_http or is_loopback(host)):
        raise BadUserInput(field, "must use https:// (http:// only for loopback hosts such "
                                  "as 127.0.0.1, unless the server allows it)")
    return url


def check_event_types(types: Sequence[str], field: str = "eventTypes") -> list[str]:
    if not types:
        raise BadUserInput(field, "give at least one event type")
    for i, t in enumerate(types):
        if t not in EVENT_TYPES:
            raise BadUserInput(f"{field}[{i}]", f"unknown event type {t!r}")
    return sorted(set(types), key=EVENT_TYPES.index)


def check_description(description: str | None) -> str | None:
    if description is None:
        return None
    if len(description) > MAX_DESCRIPTION:
        raise BadUserInput("description", f"must be at most {MAX_DESCRIPTION} characters")
    return description.strip() or None


async def create_endpoint(writer: Writer, data: EndpointInput, *,
                          allow_http: bool) -> uuid.UUID:
    """A new endpoint, enabled, with a fresh secret; its id."""
    assert data.url is not None and data.event_types is not None
    endpoint_id: uuid.UUID = (await writer.conn.execute(
        text("INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types, "
             "enabled, secret, consecutive_failures) VALUES (:t, :id, :url, :description, "
             ":types, true, :secret, 0) RETURNING id"),
        {"t": writer.tenant_id, "id": new_id(),
         "url": check_url(data.url, allow_http=allow_http, field="input.url"),
         "description": check_description(data.description),
         "types": check_event_types(data.event_types, "input.eventTypes"),
         "secret": new_secret()})).scalar_one()
    return endpoint_id


async def get_endpoint(conn: AsyncConnection, tenant_id: uuid.UUID, endpoint_id: uuid.UUID, *,
                       field: str = "id", lock: bool = False) -> RowMapping:
    row = (await conn.execute(
        text("SELECT * FROM webhook_endpoints WHERE tenant_id = :t AND id = :id"
             + (" FOR UPDATE" if lock else "")),
        {"t": tenant_id, "id": endpoint_id})).mappings().first()
    if row is None:
        raise NotFound("webhook endpoint", endpoint_id, field=field)
    return row


async def list_endpoints(conn: AsyncConnection, tenant_id: uuid.UUID) -> list[RowMapping]:
    return list((await conn.execute(
        text("SELECT * FROM webhook_endpoints WHERE tenant_id = :t ORDER BY id"),
        {"t": tenant_id})).mappings())


async def update_endpoint(writer: Writer, endpoint_id: uuid.UUID, data: EndpointInput, *,
                          allow_http: bool) -> RowMapping:
    row = await get_endpoint(writer.conn, writer.tenant_id, endpoint_id, lock=True)
    enabled = row["enabled"] if data.enabled is None else data.enabled
    reason = row["disabled_reason"]
    if data.enabled is True:
        reason = None  # enabled again: its health starts over
    elif data.enabled is False and row["enabled"]:
        reason = "disabled through the API (updateWebhookEndpoint)"
    return (await writer.conn.execute(
        text("UPDATE webhook_endpoints SET url = :url, description = :description, "
             "event_types = :types, enabled = :enabled, disabled_reason = :reason, "
             "failing_since = CASE WHEN :reset THEN NULL ELSE failing_since END, "
             "consecutive_failures = CASE WHEN :reset THEN 0 ELSE consecutive_failures END "
             "WHERE tenant_id = :t AND id = :id RETURNING *"),
        {"t": writer.tenant_id, "id": endpoint_id,
         "url": (check_url(data.url, allow_http=allow_http, field="input.url")
                 if data.url is not None else row["url"]),
         "description": (check_description(data.description)
                         if data.description is not None else row["description"]),
         "types": (check_event_types(data.event_types, "input.eventTypes")
                   if data.event_types is not None else row["event_types"]),
         "enabled": enabled, "reason": reason, "reset": data.enabled is True})).mappings().one()


async def delete_endpoint(writer: Writer, endpoint_id: uuid.UUID) -> None:
    """The endpoint and its deliveries (a delivery being sent right now is settled on nothing)."""
    await get_endpoint(writer.conn, writer.tenant_id, endpoint_id, lock=True)
    await writer.conn.execute(
        text("DELETE FROM webhook_deliveries WHERE tenant_id = :t AND endpoint_id = :id"),
        {"t": writer.tenant_id, "id": endpoint_id})
    await writer.conn.execute(
        text("DELETE FROM webhook_endpoints WHERE tenant_id = :t AND id = :id"),
        {"t": writer.tenant_id, "id": endpoint_id})


async def rotate_secret(writer: Writer, endpoint_id: uuid.UUID) -> RowMapping:
    """A new secret; the current one keeps signing (beside it) for 24 hours."""
    await get_endpoint(writer.conn, writer.tenant_id, endpoint_id, lock=True)
    return (await writer.conn.execute(
        text("UPDATE webhook_endpoints SET previous_secret = secret, "
             "previous_secret_expires_at = :until, secret = :secret "
             "WHERE tenant_id = :t AND id = :id RETURNING *"),
        {"t": writer.tenant_id, "id": endpoint_id, "secret": new_secret(),
         "until": datetime.now(UTC) + ROTATION_OVERLAP})).mappings().one()


def signing_secrets(row: RowMapping, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous during overlap."""
    out = [row["secret"]]
    until = row["previous_secret_expires_at"]
    if row["previous_secret"] and until is not None and until > now:
        out.append(row["previous_secret"])
    return out
