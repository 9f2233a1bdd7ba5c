"""Values on the wire (db/engine.numeric_as_text, db/raw.array_text), against real
PostgreSQL: numerics travel as text and come back exactly, through SQLAlchemy and the
raw path alike; numbers and dates sent as one array literal arrive as the same values."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from billgraph.db import raw

EXACT = [Decimal("10.00"), Decimal("-0.001"), Decimal("1E+2"), Decimal("0"), Decimal("-0"),
         Decimal("123456789012345678901234567890.123456789"), Decimal("0.00000000000001")]


async def test_numerics_come_back_exactly_with_their_scale(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        for value in EXACT:
            through_sqlalchemy = (await conn.execute(
                text("SELECT CAST(:v AS numeric) AS v, CAST(:v AS numeric)::text AS shown"),
                {"v": value})).one()
            (through_raw,) = await raw.fetch(conn, "SELECT CAST(:v AS numeric) AS v",
                                             {"v": value})
            assert through_sqlalchemy.v == value and through_raw["v"] == value
            shown = Decimal(through_sqlalchemy.shown)  # as PostgreSQL prints it: its scale
            assert through_raw["v"].as_tuple() == shown.as_tuple()
            assert through_sqlalchemy.v.as_tuple() == shown.as_tuple()
        (row,) = await raw.fetch(conn, "SELECT 10.50::numeric(12, 2) AS a, 3::numeric AS b, "
                                       "'NaN'::numeric AS c, CAST(:ints AS numeric[]) AS d",
                                 {"ints": [1, Decimal("2.5")]})
        assert (str(row["a"]), str(row["b"]), row["c"].is_nan()) == ("10.50", "3", True)
        assert row["d"] == [Decimal(1), Decimal("2.5")]
        assert isinstance(row["a"], Decimal)


async def test_array_text_arrives_as_the_same_values(engine: AsyncEngine) -> None:
    days = [date(2026, 1, 31), date(2024, 2, 29)]
    async with engine.connect() as conn:
        (row,) = await raw.fetch(conn, (
            "SELECT CAST(CAST(:n AS text) AS numeric[]) AS n, "
            "CAST(CAST(:d AS text) AS date[]) AS d, CAST(CAST(:i AS text) AS integer[]) AS i, "
            "CAST(CAST(:e AS text) AS numeric[]) AS e"),
            {"n": raw.array_text(EXACT), "d": raw.array_text(days),
             "i": raw.array_text([0, -7, 2**31 - 1]), "e": raw.array_text([])})
    assert row["n"] == EXACT and [str(v) for v in row["n"]][:3] == ["10.00", "-0.001", "100"]
    assert row["d"] == days and row["i"] == [0, -7, 2**31 - 1] and row["e"] == []


@pytest.mark.parametrize("repeated", [False, True])
def test_array_text_refuses_none(repeated: bool) -> None:
    with pytest.raises(TypeError, match="None"):
        raw.array_text([Decimal(1), None], repeated=repeated)
    with pytest.raises(TypeError, match="None"):
        raw.array_text([date(2026, 1, 1), None, date(2026, 1, 1)], repeated=repeated)
    assert raw.array_text([Decimal("NaN"), Decimal("-Infinity"), Decimal("1E+3")],
                          repeated=repeated) == "{NaN,-Infinity,1E+3}"
    days = [date(2026, 1, 31), date(2024, 2, 29), date(2026, 1, 31)]
    assert raw.array_text(days, repeated=repeated) == "{2026-01-31,2024-02-29,2026-01-31}"


TRICKY_TEXTS = ["RECURRING", "a,b", 'q"uote', "back\\slash", "{brace}", "", " space ",
                "NULL", "naïve €", "tab\tand\nnewline", 'end\\', 'a\\"b']


async def test_text_array_and_uuid_array_text_arrive_as_the_same_values(
        engine: AsyncEngine) -> None:
    texts = TRICKY_TEXTS * 3
    ids = [uuid.uuid4() for _ in range(3)] * 4
    async with engine.connect() as conn:
        (row,) = await raw.fetch(conn, (
            "SELECT CAST(CAST(:s AS text) AS text[]) AS s, CAST(CAST(:e AS text) AS text[]) AS e, "
            "CAST(CAST(:u AS text) AS uuid[]) AS u"),
            {"s": raw.text_array(texts), "e": raw.text_array([]),
             "u": raw.array_text(ids, repeated=True)})
    assert row["s"] == texts and row["e"] == [] and row["u"] == ids


def test_text_array_refuses_none() -> None:
    with pytest.raises(TypeError, match="None"):
        raw.text_array(["a", None])  # type: ignore[list-item]


async def test_numerics_are_sent_as_text(engine: AsyncEngine) -> None:
    # asyncpg's binary codec refuses a str for a numeric; the text codec sends str(value)
    async with engine.connect() as conn:
        (row,) = await raw.fetch(conn, "SELECT CAST(:v AS numeric) AS v", {"v": "2.50"})
    assert row["v"] == Decimal("2.50")
