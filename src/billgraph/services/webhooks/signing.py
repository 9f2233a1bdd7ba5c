"""The Standard Webhooks scheme (https://www.standardwebhooks.com): body, headers, signature.

    webhook-id:        the event's id, the same on every retry (receivers dedupe on it)
    webhook-timestamp: Unix seconds of this attempt
    webhook-signature: "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))

The secret is "whsec_" + base64 of 32 random bytes; the HMAC key is the decoded bytes.
During a rotation the previous secret signs too: the signatures are space-separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def event_key(event_id: uuid.UUID) -> str:
    """The `webhook-id` (and the body's "id") of an event."""
    return f"evt_{event_id.hex}"


def body(event_id: uuid.UUID, type: str, created_at: datetime, data: Mapping[str, Any]) -> str:
    """The JSON sent: {"id", "type", "createdAt", "data"} (the same bytes on every retry)."""
    stamp = created_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"id": event_key(event_id), "type": type, "createdAt": stamp,
                       "data": data}, separators=(",", ":"), ensure_ascii=False)


def signature(secret: str, message_id: str, timestamp: int, payload: str) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.{payload}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secrets_: Iterable[str], message_id: str, timestamp: int,
            payload: str) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, payload)
                                      for s in secrets_),
        "content-type": "application/json",
        "user-agent": "billgraph-webhooks/1",
    }
