"""Writes deferred to the end of a transaction (`Writer.later`, db/raw.Later): parts of
several services sent as one statement before COMMIT, against real PostgreSQL.

A part's rows are there after the commit; a part that fails rolls back the whole
transaction, the work before it included; parameters of parts never collide; one part
reads its rows back and is handed them inside the transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from billgraph.db import raw, tx
from billgraph.db.engine import make_engine

TENANT = uuid.UUID("01900000-0000-7000-8000-0000000000aa")
NOTE = "INSERT INTO deferred_notes (tenant_id, n, note) VALUES (:t, :n, :note)"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE deferred_notes (tenant_id uuid, n int PRIMARY KEY, "
                                "note text NOT NULL)"))
    try:
        yield engine
    finally:
        await engine.dispose()


def defer_note(writer: tx.Writer, n: int, note: str | None) -> None:
    later = writer.later
    sql, params = later.own(NOTE, {"t": writer.tenant_id, "n": n, "note": note})
    later.add([f"{later.name('note')} AS ({sql})"], params)


async def notes(engine: AsyncEngine) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT tenant_id, n, note FROM deferred_notes ORDER BY n"))
        return [tuple(r) for r in rows]


async def test_deferred_parts_are_written_in_one_statement_before_commit(
        engine: AsyncEngine) -> None:
    cell = [0]

    async def work(writer: tx.Writer) -> str:
        token = raw.sql_count_var.set(cell)
        try:
            await raw.fetch(writer.conn, NOTE, {"t": TENANT, "n": 1, "note": "now"})
            defer_note(writer, 2, "later")  # the same parameter names, renamed apart
            defer_note(writer, 3, "later too")
            assert await raw.fetch(writer.conn, "SELECT n FROM deferred_notes") == [(1,)]
            return "done"
        finally:
            raw.sql_count_var.reset(token)

    assert await tx.write(engine, TENANT, work) == "done"
    assert await notes(engine) == [(TENANT, 1, "now"), (TENANT, 2, "later"),
                                   (TENANT, 3, "later too")]
    assert cell == [2]  # the work's two statements; the deferred one is sent outside it


async def test_a_failing_part_rolls_back_the_whole_transaction(engine: AsyncEngine) -> None:
    async def work(writer: tx.Writer) -> None:
        await raw.fetch(writer.conn, NOTE, {"t": TENANT, "n": 1, "note": "now"})
        defer_note(writer, 2, "fine")
        defer_note(writer, 3, None)  # NOT NULL

    with pytest.raises(IntegrityError, match="null value in column"):
        await tx.write(engine, TENANT, work)
    assert await notes(engine) == []


async def test_the_part_that_reads_rows_back_gets_them_inside_the_transaction(
        engine: AsyncEngine) -> None:
    seen: list[list[int]] = []

    async def work(writer: tx.Writer) -> None:
        later = writer.later
        name = later.name("counted")
        n = later.name("n")

        async def then(rows: list[raw.Row]) -> None:
            seen.append([r["n"] for r in rows])
            # still in the transaction: its rows are visible, another write joins it
            await raw.fetch(writer.conn, NOTE, {"t": TENANT, "n": 9, "note": "after"})

        later.add([f"{name} AS (INSERT INTO deferred_notes (tenant_id, n, note) "
                   f"VALUES (:t, :{n}, 'read back') RETURNING n)"], {n: 5},
                  result=f"SELECT n FROM {name}", then=then)
        defer_note(writer, 6, "beside it")
        with pytest.raises(ValueError, match="one part only"):
            later.add(["x AS (SELECT 1)"], {}, result="SELECT 1 FROM x")

    await tx.write(engine, TENANT, work)
    assert seen == [[5]]
    assert [n for _, n, _ in await notes(engine)] == [5, 6, 9]


async def test_a_rolled_back_writer_sends_its_parts_and_keeps_nothing(
        engine: AsyncEngine) -> None:
    async with tx.rolled_back(engine, TENANT) as writer:
        defer_note(writer, 1, "previewed")
    assert await notes(engine) == []
    with pytest.raises(IntegrityError):  # its errors are those a commit would have met
        async with tx.rolled_back(engine, TENANT) as writer:
            defer_note(writer, 1, None)
