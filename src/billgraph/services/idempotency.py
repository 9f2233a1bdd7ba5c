"""Idempotency keys (SPEC §8), applied inside the write's own transaction.

- An advisory transaction lock on (tenant, key) admits one request at a time:
  a duplicate arriving while the first still runs gets IDEMPOTENCY_KEY_IN_USE.
- The key's row is inserted in the same transaction as the work, so a key is
  recorded exactly when its work commits: a crash or failure records nothing.
- The same key with the same input returns the first result (the ids it
  produced) without doing the work again; with other input it is
  IDEMPOTENCY_KEY_REUSED. Keys are kept for 24 hours.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from billgraph.db.tx import Writer

from .errors import BadUserInput, IdempotencyKeyInUse, IdempotencyKeyReused

RETENTION = "24 hours"
Result = dict[str, Any]


def request_hash(operation: str, payload: Any) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > 255:
        raise BadUserInput("idempotencyKey", "must be 1 to 255 characters")
    return key


async def idempotent(
    writer: Writer,
    key: str | None,
    operation: str,
    payload: Any,
    work: Callable[[], Awaitable[Result]],
) -> Result:
    """Run `work` once per (tenant, key); return its result, or the first call's."""
    if key is None:
        return await work()
    check_key(key)
    conn, tenant_id = writer.conn, writer.tenant_id
    locked = (await conn.execute(
        text("SELECT pg_try_advisory_xact_lock(hashtextextended(:lock, 0))"),
        {"lock": f"idem:{tenant_id}:{key}"},
    )).scalar_one()
    if not locked:
        raise IdempotencyKeyInUse(
            f"a request with idempotency key {key!r} is still running; retry shortly",
            field="idempotencyKey")
    digest = request_hash(operation, payload)
    row = (await conn.execute(
        text("SELECT operation, request_hash, result, "
             f"created_at < now() - interval '{RETENTION}' AS expired "
             "FROM idempotency_keys WHERE tenant_id = :t AND key = :k"),
        {"t": tenant_id, "k": key},
    )).first()
    if row is not None and not row.expired:
        if row.operation != operation or row.request_hash != digest:
            raise IdempotencyKeyReused(
                f"idempotency key {key!r} was already used with a different request",
                field="idempotencyKey")
        return dict(row.result)
    if row is not None:
        await conn.execute(text("DELETE FROM idempotency_keys WHERE tenant_id = :t AND key = :k"),
                           {"t": tenant_id, "k": key})
    result = await work()
    await conn.execute(
        text("INSERT INTO idempotency_keys (tenant_id, key, operation, request_hash, result) "
             "VALUES (:t, :k, :op, :h, CAST(:r AS jsonb))"),
        {"t": tenant_id, "k": key, "op": operation, "h": digest,
         "r": json.dumps(result, default=str)},
    )
    return result


async def purge_expired(conn: Any) -> int:
    result = await conn.execute(
        text(f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{RETENTION}'"))
    return int(result.rowcount)
