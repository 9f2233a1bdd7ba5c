"""Background jobs (async orders, bill runs) in the `jobs` table (see models.orders.Job).

A job is claimed with FOR UPDATE SKIP LOCKED: each claim bumps `attempt`; a RUNNING
job whose heartbeat is older than the lease is claimed again. Finishing a job is
guarded by its attempt, so only the current claim can finish it: a handler that
finishes its job in the same transaction as its work (`finish(writer.conn, ...)`)
commits its work at most once — if the claim was lost, `LostClaim` rolls it back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncConnection

from billgraph.db.tx import Writer
from billgraph.models import new_id


class LostClaim(Exception):
    """The job was claimed again (its lease ran out) or finished: this attempt must not commit."""


async def enqueue(writer: Writer, kind: str, payload: dict[str, Any], *,
                  order_id: uuid.UUID | None = None,
                  bill_run_id: uuid.UUID | None = None) -> uuid.UUID:
    """Queue a PENDING job in the writer's transaction (it runs once that commits)."""
    job_id = new_id()
    await writer.conn.execute(
        text("INSERT INTO jobs (tenant_id, id, kind, status, payload, order_id, bill_run_id, "
             "errors, attempt) VALUES (:t, :id, :kind, 'PENDING', CAST(:payload AS jsonb), "
             ":order_id, :bill_run_id, '[]', 0)"),
        {"t": writer.tenant_id, "id": job_id, "kind": kind, "payload": json.dumps(payload),
         "order_id": order_id, "bill_run_id": bill_run_id},
    )
    return job_id


CLAIM = text("""
UPDATE jobs SET status = 'RUNNING', attempt = attempt + 1, claimed_by = :me,
       heartbeat_at = now(), started_at = coalesce(started_at, now())
WHERE (tenant_id, id) = (
    SELECT tenant_id, id FROM jobs
    WHERE status = 'PENDING'
       OR (status = 'RUNNING' AND heartbeat_at < now() - make_interval(secs => :lease))
    ORDER BY created_at
    FOR UPDATE SKIP LOCKED
    LIMIT 1)
RETURNING *
""")


async def claim(conn: AsyncConnection, me: str, lease_seconds: float) -> RowMapping | None:
    """The oldest claimable job of any tenant, now RUNNING for `me`; None if there is none."""
    return (await conn.execute(CLAIM, {"me": me, "lease": lease_seconds})).mappings().first()


GUARD = "tenant_id = :t AND id = :id AND attempt = :attempt AND status = 'RUNNING'"


def _key(job: RowMapping) -> dict[str, Any]:
    return {"t": job["tenant_id"], "id": job["id"], "attempt": job["attempt"]}


async def heartbeat(conn: AsyncConnection, job: RowMapping) -> bool:
    """Extend the lease; False once this attempt no longer owns the job."""
    result = await conn.execute(text(f"UPDATE jobs SET heartbeat_at = now() WHERE {GUARD}"),
                                _key(job))
    return bool(result.rowcount)


async def finish(conn: AsyncConnection, job: RowMapping, status: str, *,
                 order_id: uuid.UUID | None = None, errors: Sequence[dict[str, Any]] = (),
                 strict: bool = True) -> bool:
    """Mark this attempt's job SUCCEEDED or FAILED (with coded errors).

    Guarded by the attempt: when it no longer owns the job, `LostClaim` (strict) rolls
    back the caller's transaction, or False is returned.
    """
    assert status in ("SUCCEEDED", "FAILED")
    result = await conn.execute(
        text("UPDATE jobs SET status = :status, errors = CAST(:errors AS jsonb), "
             f"order_id = coalesce(:order_id, order_id), finished_at = now() WHERE {GUARD}"),
        {**_key(job), "status": status, "errors": json.dumps(list(errors)),
         "order_id": order_id})
    if result.rowcount == 0 and strict:
        raise LostClaim(f"job {job['id']} attempt {job['attempt']} no longer owns the job")
    return bool(result.rowcount)


async def get_job(conn: AsyncConnection, tenant_id: uuid.UUID,
                  job_id: uuid.UUID) -> RowMapping | None:
    return (await conn.execute(text("SELECT * FROM jobs WHERE tenant_id = :t AND id = :id"),
                               {"t": tenant_id, "id": job_id})).mappings().first()
