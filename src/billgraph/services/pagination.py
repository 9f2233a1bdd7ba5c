"""Relay cursors: opaque strings over a keyset (the row's time-ordered id)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Generic, TypeVar

from .errors import BadUserInput

T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    first: int
    after: uuid.UUID | None


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    total_count: int


def encode_cursor(row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(b"c1:" + row_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if not raw.startswith(b"c1:") or len(raw) != 19:
            raise ValueError
        return uuid.UUID(bytes=raw[3:])
    except ValueError:
        raise BadUserInput("after", "not a cursor from this API") from None


def page_request(first: int | None, after: str | None, *, default: int,
                 maximum: int) -> PageRequest:
    if first is None:
        first = default
    if first < 0 or first > maximum:
        raise BadUserInput("first", f"must be between 0 and {maximum}")
    return PageRequest(first, decode_cursor(after) if after else None)
