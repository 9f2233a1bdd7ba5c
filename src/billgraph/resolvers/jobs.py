"""job(id): poll a background job."""

from __future__ import annotations

import uuid

import strawberry

from billgraph.context import Info
from billgraph.schema.common import parse_id
from billgraph.schema.jobs import Job
from billgraph.services import jobs
from billgraph.services.errors import NotFound


async def fetch_job(info: Info, job_id: uuid.UUID) -> Job:
    async with info.context.state.read() as conn:
        row = await jobs.get_job(conn, info.context.tenant_id, job_id)
    if row is None:
        raise NotFound("job", job_id, field="id")
    return Job.from_row(row)


@strawberry.type
class JobQueries:
    @strawberry.field(description="A background job (createOrderAsync), to poll its status.")
    async def job(self, info: Info, id: strawberry.ID) -> Job | None:
        return await fetch_job(info, parse_id(id, "job"))
