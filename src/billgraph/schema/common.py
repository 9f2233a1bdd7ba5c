"""Shared types: Node, PageInfo, JobError, page requests, and id parsing."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import strawberry

from billgraph.services.errors import NotFound
from billgraph.services.numbers import parse_uuid
from billgraph.services.pagination import Page, PageRequest, page_request

from .enums import ErrorCode

if TYPE_CHECKING:
    from billgraph.context import Info


@strawberry.interface(description="An object with a global id.")
class Node:
    id: strawberry.ID


@strawberry.type(description="Where a page ends and whether more follow.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when another page follows.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` to get the next page.")

    @classmethod
    def of(cls, page: Page[Any]) -> PageInfo:
        return cls(has_next_page=page.has_next_page,
                   end_cursor=page.cursors[-1] if page.cursors else None)


def requested_page(info: Info, first: int | None, after: str | None) -> PageRequest:
    """`first`/`after` checked against the server's page-size settings."""
    settings = info.context.state.settings
    return page_request(first, after, default=settings.default_page_size,
                        maximum=settings.max_page_size)


@strawberry.type(description="A coded error of one item of a bulk or background operation.")
class JobError:
    code: ErrorCode = strawberry.field(description="A stable ErrorCode.")
    message: str = strawberry.field(description="What went wrong, naming the field.")
    field: str | None = strawberry.field(
        default=None,
        description="The input path at fault (`inputs[2].lines[0].unitPrice`), when one is.")


def parse_id(value: str | strawberry.ID, what: str, field: str = "id") -> uuid.UUID:
    """An id from the API; a malformed one names nothing, so it is NOT_FOUND."""
    parsed = parse_uuid(value)
    if parsed is None:
        raise NotFound(what, value, field=field)
    return parsed
