"""Background jobs (async orders, bill runs) in the `jobs` table (see models.orders.Job).

A job is claimed with FOR UPDATE SKIP LOCKED, within one tenant (see `claim`): each
claim bumps `attempt`; a RUNNING job whose heartbeat is older than the lease is
claimed again. Finishing a job is
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

from billgraph.db import clock
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


# Claims stay within one tenant (Citus runs a row lock only on one tenant's shard):
# first the tenants with claimable work, oldest first (a plain SELECT, no lock), then
# the oldest claimable job of one tenant, FOR UPDATE SKIP LOCKED.
DUE = """(status = 'PENDING'
    OR (status = 'RUNNING' AND heartbeat_at < CAST(:now AS timestamptz)
                                              - make_interval(secs => :lease)))"""

TENANTS_WITH_WORK = text(f"""
SELECT tenant_id FROM jobs WHERE {DUE}
GROUP BY tenant_id ORDER BY min(created_at) LIMIT :limit
""")

CLAIM = text(f"""
UPDATE jobs SET status = 'RUNNING', attempt = attempt + 1, claimed_by = :me,
       heartbeat_at = CAST(:now AS timestamptz),
       started_at = coalesce(started_at, CAST(:now AS timestamptz))
WHERE tenant_id = :t AND id = (
    SELECT id FROM jobs
    WHERE tenant_id = :t AND {DUE}
    ORDER BY created_at
    FOR UPDATE SKIP LOCKED
    LIMIT 1)
RETURNING *
""")


async def claim(conn: AsyncConnection, me: str, lease_seconds: float, *,
                tenant_id: uuid.UUID | str | None = None) -> RowMapping | None:
    """The oldest claimable job of the tenant whose oldest claimable job is oldest (or of
    the next tenant, when another worker holds those), now RUNNING for `me`; None if
    there is none. Only of `tenant_id` when given. Commit right after: the claim holds
    the job's row lock until then."""
    times = {"now": clock.now(), "lease": lease_seconds}
    tenant_ids = [tenant_id] if tenant_id is not None else (await conn.execute(
        TENANTS_WITH_WORK, {**times, "limit": 20})).scalars().all()
    for tenant in tenant_ids:
        job = (await conn.execute(CLAIM, {**times, "me": me, "t": tenant})).mappings().first()
        if job is not None:
            return job
    return None


GUARD = "tenant_id = :t AND id = :id AND attempt = :attempt AND status = 'RUNNING'"


def _key(job: RowMapping) -> dict[str, Any]:
    return {"t": job["tenant_id"], "id": job["id"], "attempt": job["attempt"]}


async def heartbeat(conn: AsyncConnection, job: RowMapping) -> bool:
    """Extend the lease; False once this attempt no longer owns the job."""
    result = await conn.execute(text("UPDATE jobs SET heartbeat_at = CAST(:now AS timestamptz) "
                                     f"WHERE {GUARD}"), {**_key(job), "now": clock.now()})
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
             "order_id = coalesce(:order_id, order_id), finished_at = CAST(:now AS timestamptz) "
             f"WHERE {GUARD}"),
        {**_key(job), "status": status, "errors": json.dumps(list(errors)),
         "order_id": order_id, "now": clock.now()})
    if result.rowcount == 0 and strict:
        raise LostClaim(f"job {job['id']} attempt {job['attempt']} no longer owns the job")
    return bool(result.rowcount)


async def get_job(conn: AsyncConnection, tenant_id: uuid.UUID,
                  job_id: uuid.UUID) -> RowMapping | None:
    return (await conn.execute(text("SELECT * FROM jobs WHERE tenant_id = :t AND id = :id"),
                               {"t": tenant_id, "id": job_id})).mappings().first()
