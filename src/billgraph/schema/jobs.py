"""Background jobs (createOrderAsync): their status, order and errors."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info

from .billing import job_errors
from .common import JobError
from .enums import JobStatus
from .orders import Order, load_order


@strawberry.type(description="A background job: PENDING, RUNNING, then SUCCEEDED or FAILED.")
class Job:
    id: strawberry.ID
    kind: str = strawberry.field(description="order (createOrderAsync) or bill_run.")
    status: JobStatus = strawberry.field(description="PENDING, RUNNING, SUCCEEDED or FAILED.")
    errors: list[JobError] = strawberry.field(description="Why it FAILED (nothing was written).")
    created_at: dt.datetime
    started_at: dt.datetime | None = strawberry.field(description="When a worker first started it.")
    finished_at: dt.datetime | None = strawberry.field(description="When it succeeded or failed.")
    attempt: int = strawberry.field(description="How many times it has been claimed.")
    order_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: RowMapping) -> Job:
        return cls(
            id=strawberry.ID(str(row["id"])), kind=row["kind"], status=JobStatus(row["status"]),
            errors=job_errors(row["errors"]),
            created_at=row["created_at"], started_at=row["started_at"],
            finished_at=row["finished_at"], attempt=row["attempt"], order_id=row["order_id"],
        )

    @strawberry.field(description="The order it created (once SUCCEEDED).")
    async def order(self, info: Info) -> Order | None:
        return None if self.order_id is None else await load_order(info, self.order_id)
