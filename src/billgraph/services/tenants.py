"""Tenants, API keys (stored only as hashes), users and tenant settings."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.models import new_id

from . import money
from .errors import BadUserInput, Conflict, NotFound

SCOPES = ("read", "write", "admin")  # READ ⊂ WRITE ⊂ ADMIN
FIRST_KEY_SCOPE = "admin"  # the first key of a tenant manages the others
CUSTOM_PERIOD_NAMES = tuple(f"CUSTOM{n}" for n in range(1, 6))
PERIOD_UNITS = ("DAY", "WEEK", "MONTH")
KEY_PREFIX = "bgk_"


def hash_key(token: str) -> str:
    """Keys are 256-bit random tokens, so a plain SHA-256 is enough (no slow KDF needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant of the API key, the key's scope, id and expiry."""

    tenant_id: uuid.UUID
    scope: str
    key_id: uuid.UUID | None = None
    expires_at: datetime | None = None

    @property
    def can_write(self) -> bool:
        return self.scope in ("write", "admin")

    @property
    def can_admin(self) -> bool:
        return self.scope == "admin"

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


async def authenticate(conn: AsyncConnection, token: str) -> Principal | None:
    """The key's principal; None for an unknown, revoked or expired key."""
    row = (await conn.execute(
        text("SELECT tenant_id, id, scope, expires_at FROM api_keys WHERE key_hash = :h "
             "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"),
        {"h": hash_key(token)},
    )).first()
    return Principal(row.tenant_id, row.scope, row.id, row.expires_at) if row else None


async def create_tenant(conn: AsyncConnection, name: str) -> uuid.UUID:
    name = name.strip()
    if not name:
        raise BadUserInput("name", "must not be empty")
    tenant_id = new_id()
    try:
        async with conn.begin_nested():
            await conn.execute(
                text("INSERT INTO tenants (id, name, metrics_refresh_interval_seconds, "
                     "default_currency, custom_periods) VALUES (:id, :name, 3600, 'USD', '[]')"),
                {"id": tenant_id, "name": name},
            )
    except IntegrityError:
        raise Conflict(f"tenant {name!r} already exists", field="name") from None
    # Every tenant starts with the NORMAL billing term scheme DEFAULT (SPEC §4).
    await conn.execute(
        text("INSERT INTO billing_term_schemes (tenant_id, id, code, type, billing_cycle_day, "
             "concurrent_usage_based) VALUES (:t, :id, 'DEFAULT', 'NORMAL', 1, false)"),
        {"t": tenant_id, "id": new_id()},
    )
    return tenant_id


async def insert_key(conn: AsyncConnection, tenant_id: uuid.UUID, scope: str, *,
                     description: str | None = None,
                     expires_at: datetime | None = None) -> tuple[RowMapping, str]:
    """A new API key row and its token: returned once, only its hash is stored."""
    if scope not in SCOPES:
        raise BadUserInput("scope", "must be read, write or admin")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    row = (await conn.execute(
        text("INSERT INTO api_keys (tenant_id, id, key_hash, prefix, scope, description, "
             "expires_at) VALUES (:t, :id, :h, :p, :s, :d, :e) RETURNING *"),
        {"t": tenant_id, "id": new_id(), "h": hash_key(token), "p": token[:12], "s": scope,
         "d": description, "e": expires_at},
    )).mappings().one()
    return row, token


async def create_key(conn: AsyncConnection, tenant_id: uuid.UUID, scope: str) -> str:
    """A new API key's token (the CLI's and the first key's way)."""
    return (await insert_key(conn, tenant_id, scope))[1]


async def tenant_by_name(conn: AsyncConnection, name: str) -> uuid.UUID:
    row = (await conn.execute(text("SELECT id FROM tenants WHERE name = :n"), {"n": name})).first()
    if row is None:
        raise NotFound("tenant", repr(name), field="tenant")
    return uuid.UUID(str(row.id))


async def any_tenant(conn: AsyncConnection) -> bool:
    return bool((await conn.execute(text("SELECT EXISTS (SELECT 1 FROM tenants)"))).scalar_one())


async def get_tenant(conn: AsyncConnection, tenant_id: uuid.UUID) -> RowMapping:
    row = (await conn.execute(text("SELECT * FROM tenants WHERE id = :id"),
                              {"id": tenant_id})).mappings().first()
    if row is None:
        raise NotFound("tenant", tenant_id)
    return row


@dataclass
class SettingsInput:
    metrics_refresh_interval_seconds: int | None = None
    default_currency: str | None = None
    custom_periods: list[dict[str, Any]] | None = None


def validate_custom_periods(periods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    clean = []
    for i, period in enumerate(periods):
        field = f"customPeriods[{i}]"
        name, unit, count = period["name"], period["unit"], period["count"]
        if name not in CUSTOM_PERIOD_NAMES:
            raise BadUserInput(f"{field}.name", "must be one of CUSTOM1..CUSTOM5")
        if name in seen:
            raise BadUserInput(f"{field}.name", f"{name} is given twice")
        if unit not in PERIOD_UNITS:
            raise BadUserInput(f"{field}.unit", "must be DAY, WEEK or MONTH")
        if not 1 <= count <= 1000:
            raise BadUserInput(f"{field}.count", "must be between 1 and 1000")
        seen.add(name)
        clean.append({"name": name, "unit": unit, "count": count})
    return sorted(clean, key=lambda p: p["name"])


async def update_settings(conn: AsyncConnection, tenant_id: uuid.UUID,
                          data: SettingsInput) -> RowMapping:
    values: dict[str, Any] = {}
    if data.metrics_refresh_interval_seconds is not None:
        if not 1 <= data.metrics_refresh_interval_seconds <= 7 * 86400:
            raise BadUserInput("metricsRefreshIntervalSeconds", "must be between 1 and 604800")
        values["metrics_refresh_interval_seconds"] = data.metrics_refresh_interval_seconds
    if data.default_currency is not None:
        if not money.is_currency(data.default_currency):
            raise BadUserInput("defaultCurrency", "must be an ISO 4217 currency code")
        values["default_currency"] = data.default_currency
    if data.custom_periods is not None:
        values["custom_periods"] = json.dumps(validate_custom_periods(data.custom_periods))
    if values:
        sets = ", ".join(
            f"{k} = CAST(:{k} AS jsonb)" if k == "custom_periods" else f"{k} = :{k}"
            for k in values
        )
        await conn.execute(text(f"UPDATE tenants SET {sets} WHERE id = :id"),
                           {**values, "id": tenant_id})
    return await get_tenant(conn, tenant_id)


async def create_user(conn: AsyncConnection, tenant_id: uuid.UUID, username: str) -> uuid.UUID:
    username = username.strip()
    if not username:
        raise BadUserInput("username", "must not be empty")
    user_id = new_id()
    try:
        async with conn.begin_nested():
            await conn.execute(
                text("INSERT INTO users (tenant_id, id, username) VALUES (:t, :id, :u)"),
                {"t": tenant_id, "id": user_id, "u": username},
            )
    except IntegrityError:
        raise Conflict(f"user {username!r} already exists", field="username") from None
    return user_id
