"""The one shape of a create mutation: validate → write (idempotent with a key) → read back.

    data = service.CreateThing(...)              # validate: parse ids, build the input
    return await create(info, operation="createThing", key=idempotency_key,
                        payload=lambda: dataclasses.asdict(data),
                        write=lambda w: service.create_thing(w, data),   # → the new id
                        read=lambda thing_id: fetch_thing(info, thing_id))

`write` runs in one transaction (`AppState.write`: retried on lock competition, events
after commit). With a key (SPEC §8) the key is recorded in that same transaction: the
same key with the same payload returns the first call's object without writing again,
with another payload it is IDEMPOTENCY_KEY_REUSED, while the first still runs
IDEMPOTENCY_KEY_IN_USE. `payload` is only evaluated when a key is given.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.services.idempotency import Result, idempotent

T = TypeVar("T")


async def create_result(info: Info, *, operation: str, key: str | None,
                        payload: Callable[[], Any],
                        write: Callable[[Writer], Awaitable[Result]],
                        read: Callable[[Result], Awaitable[T]],
                        after_commit: Callable[[Result], Awaitable[None]] | None = None) -> T:
    """The general form: `write` returns a JSON-able result (kept with the key), `read`
    maps it (fresh or replayed) to the mutation's return value."""
    async def work(writer: Writer) -> Result:
        return await idempotent(writer, key, operation, payload() if key is not None else None,
                                lambda: write(writer))

    result = await info.context.state.write(info.context.tenant_id, work)
    if after_commit is not None:
        await after_commit(result)
    return await read(result)


async def create(info: Info, *, operation: str, key: str | None, payload: Callable[[], Any],
                 write: Callable[[Writer], Awaitable[uuid.UUID]],
                 read: Callable[[uuid.UUID], Awaitable[T]],
                 after_commit: Callable[[uuid.UUID], Awaitable[None]] | None = None) -> T:
    """Create one object: `write` returns its id, `read(id)` the object to return."""
    async def write_id(writer: Writer) -> Result:
        return {"id": str(await write(writer))}

    async def notify(result: Result) -> None:
        if after_commit is not None:
            await after_commit(uuid.UUID(result["id"]))

    async def read_id(result: Result) -> T:
        return await read(uuid.UUID(result["id"]))

    return await create_result(info, operation=operation, key=key, payload=payload,
                               write=write_id, read=read_id, after_commit=notify)


async def create_answered(info: Info, *, operation: str, key: str | None,
                          payload: Callable[[], Any],
                          write: Callable[[Writer], Awaitable[Any]],
                          answer: Callable[[Any], T],
                          read: Callable[[uuid.UUID], Awaitable[T]]) -> T:
    """`create` for a write that returns the new row (with its `id`): the object to return
    is `answer(row)`, with no read after the commit; `read(id)` only when the key's first
    call is replayed (this call wrote nothing)."""
    written: dict[uuid.UUID, T] = {}  # by id: a retried transaction writes another row

    async def write_row(writer: Writer) -> uuid.UUID:
        row = await write(writer)
        row_id: uuid.UUID = row["id"]
        written[row_id] = answer(row)
        return row_id

    async def answered(row_id: uuid.UUID) -> T:
        return written[row_id] if row_id in written else await read(row_id)

    return await create(info, operation=operation, key=key, payload=payload,
                        write=write_row, read=answered)
