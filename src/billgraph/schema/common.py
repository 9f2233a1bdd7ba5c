"""Shared types: Node, PageInfo, JobError, and id parsing."""

from __future__ import annotations

import uuid

import strawberry

from billgraph.services.errors import NotFound

from .enums import ErrorCode


@strawberry.interface(description="An object with a global id.")
class Node:
    id: strawberry.ID


@strawberry.type(description="Where a page ends and whether more follow.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when another page follows.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` to get the next page.")


@strawberry.type(description="A coded error of one item of a bulk or background operation.")
class JobError:
    code: ErrorCode
    message: str


def parse_id(value: str | strawberry.ID, what: str, field: str = "id") -> uuid.UUID:
    """An id from the API; a malformed one names nothing, so it is NOT_FOUND."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(what, value, field=field) from None
