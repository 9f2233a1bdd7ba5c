"""Shared types: Node, PageInfo, JobError, page requests, and id parsing."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import strawberry
from sqlalchemy import RowMapping
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from billgraph.loaders import MISSING, Missing, RowLoader
from billgraph.services.errors import NotFound
from billgraph.services.numbers import parse_uuid
from billgraph.services.pagination import Page, PageRequest, page_request

from .enums import ErrorCode

if TYPE_CHECKING:
    from billgraph.context import Info


T = TypeVar("T")
V = TypeVar("V")
Soon: TypeAlias = T | Awaitable[T]
"""A field's answer now, or an awaitable of it (`now_or_later`); declare the field's type
with `graphql_type`."""


def now_or_later(peeked: V | Missing, load: Callable[[], Awaitable[V]],
                 build: Callable[[V], T]) -> Soon[T]:
    """`build` of what a loader already holds (`peek`), at once; otherwise an awaitable of
    `build` of `load()`. Synchronous answers keep graphql-core on its fast path: a
    subscription page whose parent fetched its children's rows completes without one
    awaitable per field."""
    if peeked is MISSING:
        return _later(load, build)
    return build(peeked)


async def _later(load: Callable[[], Awaitable[V]], build: Callable[[V], T]) -> T:
    return build(await load())


def one_now_or_later(loader: RowLoader, row_id: uuid.UUID,
                     build: Callable[[RowMapping], T]) -> Soon[T]:
    """`now_or_later` for a row that must exist: `build` of it, NOT_FOUND without it."""
    return now_or_later(loader.peek_one(row_id), lambda: loader.one(row_id), build)


Selection = dict[str, "Selection"]
"""Field names selected (fragments merged, aliases and directives ignored) → theirs."""


def selection(info: Info, *path: str) -> Selection:
    """What the document selects under this field and then `path` (e.g. "edges", "node"):
    for a parent deciding what its children will read, to fetch it in one batch first."""
    tree: Selection = {}
    for field in info.selected_fields:
        _merge(tree, field.selections)
    for name in path:
        tree = tree.get(name, {})
    return tree


def _merge(tree: Selection, selections: Iterable[Any]) -> Selection:
    for node in selections:
        if isinstance(node, SelectedField):
            _merge(tree.setdefault(node.name, {}), node.selections)
        elif isinstance(node, FragmentSpread | InlineFragment):
            _merge(tree, node.selections)
    return tree


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
