"""API key lifecycle (SPEC §16): create with a scope and an expiry, list, revoke, last use.

Keys are refused once revoked or expired: authentication (services/tenants) checks
both, and a server keeps a looked-up key for at most KEY_CACHE_SECONDS (state.py),
so every instance refuses a revoked key within that time. `last_used_at` is
recorded in memory per request and written in one statement every few seconds
(`record_usage`), never a write per request.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import BadUserInput, NotFound
from .tenants import insert_key

MAX_DESCRIPTION = 500


async def create(conn: AsyncConnection, tenant_id: uuid.UUID, *, scope: str,
                 description: str | None, expires_at: datetime | None,
                 now: datetime) -> tuple[RowMapping, str]:
    if description is not None:
        description = description.strip() or None
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise BadUserInput("input.description", f"must be at most {MAX_DESCRIPTION} "
                                                    "characters")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise BadUserInput("input.expiresAt", "must carry a time zone offset")
        if expires_at <= now:
            raise BadUserInput("input.expiresAt", "must be in the future")
    return await insert_key(conn, tenant_id, scope, description=description,
                            expires_at=expires_at)


async def list_keys(conn: AsyncConnection, tenant_id: uuid.UUID) -> list[RowMapping]:
    """The tenant's keys, oldest first, revoked and expired ones included."""
    rows = await conn.execute(
        text("SELECT * FROM api_keys WHERE tenant_id = :t ORDER BY created_at, id"),
        {"t": tenant_id})
    return list(rows.mappings())


async def find_key(conn: AsyncConnection, tenant_id: uuid.UUID, ref: str) -> uuid.UUID:
    """A key by id or by prefix (as `billgraph key list` shows them); NOT_FOUND else."""
    try:
        key_id: uuid.UUID | None = uuid.UUID(ref)
    except ValueError:
        key_id = None
    rows = list(await conn.execute(
        text("SELECT id FROM api_keys WHERE tenant_id = :t AND "
             "(id = CAST(:id AS uuid) OR prefix = :p)"),
        {"t": tenant_id, "id": key_id, "p": ref}))
    if len(rows) != 1:
        raise NotFound("API key", ref, field="key")
    return uuid.UUID(str(rows[0].id))


async def revoke(conn: AsyncConnection, tenant_id: uuid.UUID, key_id: uuid.UUID, *,
                 now: datetime) -> RowMapping:
    """Revoke a key (again: no change, it keeps its first revokedAt)."""
    row = (await conn.execute(
        text("UPDATE api_keys SET revoked_at = coalesce(revoked_at, :now) "
             "WHERE tenant_id = :t AND id = :id RETURNING *"),
        {"now": now, "t": tenant_id, "id": key_id})).mappings().first()
    if row is None:
        raise NotFound("API key", key_id, field="id")
    return row


async def record_usage(conn: AsyncConnection,
                       used: Mapping[uuid.UUID, tuple[uuid.UUID, datetime]]) -> None:
    """Set last_used_at of many keys (key id -> (tenant, when)) in one statement."""
    if not used:
        return
    ids: Sequence[uuid.UUID] = list(used)
    await conn.execute(
        text("UPDATE api_keys k SET last_used_at = u.at FROM unnest(CAST(:t AS uuid[]), "
             "CAST(:ids AS uuid[]), CAST(:at AS timestamptz[])) AS u(tenant_id, id, at) "
             "WHERE k.tenant_id = u.tenant_id AND k.id = u.id "
             "AND (k.last_used_at IS NULL OR k.last_used_at < u.at)"),
        {"t": [used[i][0] for i in ids], "ids": ids, "at": [used[i][1] for i in ids]})
