"""Statements sent straight to the asyncpg connection beneath a SQLAlchemy connection.

SQLAlchemy's `conn.execute(text(...), params)` costs ~0.2 ms of CPU per statement on top
of asyncpg's own work: building the TextClause and its bind parameters, the compiled
cache's key, the execution context, the greenlet bridge and Row objects
(bench/RESULTS.md, issue 13: ~30 % of a partner createOrder's server CPU). The hot
writes send their statements through here instead: the same SQL text with `:name`
parameters (SQLAlchemy's text() syntax, `::casts` left alone), turned once into
asyncpg's `$n` form, prepared and cached by asyncpg per connection, executed inside the
SQLAlchemy transaction of that connection (started here when it has not been yet), its
errors raised as the same `sqlalchemy.exc.DBAPIError` subclasses with the same SQLSTATE,
so db.tx.write's retries and the services' `IntegrityError` handlers see no difference.
Rows are asyncpg Records: `row["column"]` and `row[0]`, no attribute access.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection

# The statements of the current GraphQL operation (observability.count_statements counts
# SQLAlchemy's; this module counts its own): a mutable cell shared by the operation's tasks.
sql_count_var: ContextVar[list[int] | None] = ContextVar("sql_count", default=None)

# text()'s own pattern for a bind parameter (sqlalchemy.sql.elements.TextClause)
PARAMETER = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)")

# An asyncpg Record: row["column"], row[0], iterating yields the values. asyncpg ships no
# type information, so to mypy it is Any.
Row = Any


@lru_cache(maxsize=2048)
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with its `:name` parameters as `$1, $2, …` (a name used twice is one
    parameter), and the names in that order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return PARAMETER.sub(number, sql), tuple(names)


async def _driver(conn: AsyncConnection) -> tuple[Any, asyncpg.Connection]:
    """The SQLAlchemy adapter and the asyncpg connection of `conn`, its transaction begun
    (unless the connection is in autocommit, as the read connections are)."""
    adapter: Any = conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    if adapter.isolation_level != "autocommit":
        if not conn.in_transaction():  # as conn.execute() would begin it
            await conn.begin()
        if adapter._transaction is None:  # the BEGIN SQLAlchemy sends before its first
            await adapter._start_transaction()  # statement
    return adapter, adapter.driver_connection


def array_text(values: Sequence[Any], *, repeated: bool = False) -> str:
    """`values` (numbers, dates or UUIDs, never None) as one PostgreSQL array literal, for
    a parameter written `CAST(CAST(:name AS text) AS numeric[])` (or `date[]`, `integer[]`,
    `uuid[]`).

    asyncpg encodes an array parameter element by element, each through its type's codec
    and an `isinstance(element, Iterable)` check for nested arrays: 10,000 numerics cost
    ~19 ms that way, ~6 ms as `str` joined here (bench/RESULTS.md, issue 13 session 9).
    A number's, date's or UUID's `str` never needs quoting inside an array literal.

    `repeated`: the values are a few distinct ones many times over (a bill run's service
    dates), so each distinct value's text is made once (10,000 dates: 2.5 → 0.3 ms).
    A None is looked for in the joined text, where no number's, date's or UUID's text
    can put "None": `None in values` compares every Decimal with None, ~1.3 ms per 10,000."""
    if repeated:
        texts = {value: str(value) for value in set(values)}
        joined = ",".join(map(texts.__getitem__, values))
    else:
        joined = ",".join(map(str, values))
    if "None" in joined:
        raise TypeError("array_text: a value is None")
    return "{" + joined + "}"


def text_array(values: Sequence[str]) -> str:
    """`values` (strings, never None) as one PostgreSQL array literal, for a parameter
    written `CAST(CAST(:name AS text) AS text[])`: each distinct value double-quoted
    (backslashes and quotes escaped) once, for columns of a few distinct values many times
    over (a bill run's charge types). asyncpg checks each element of a text[] against
    the Iterable and Sized ABCs (~0.3 µs each) before encoding it."""
    distinct = set(values)
    if None in distinct:
        raise TypeError("text_array: a value is None")
    quoted = {value: '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
              for value in distinct}
    return "{" + ",".join(map(quoted.__getitem__, values)) + "}"


def _arguments(names: Sequence[str], params: Mapping[str, Any]) -> list[Any]:
    try:
        return [params[name] for name in names]
    except KeyError as missing:
        raise exc.ArgumentError(f"no value for the parameter {missing}") from None


async def fetch(conn: AsyncConnection, sql: str,
                params: Mapping[str, Any] | None = None) -> list[Row]:
    """The rows of one statement."""
    query, names = positional(sql)
    adapter, driver = await _driver(conn)
    cell = sql_count_var.get()
    if cell is not None:
        cell[0] += 1
    try:
        rows: list[Row] = await driver.fetch(query, *_arguments(names, params or {}))
        return rows
    except Exception as error:
        raise _translated(adapter, sql, params, error) from error


async def fetchrow(conn: AsyncConnection, sql: str,
                   params: Mapping[str, Any] | None = None) -> Row | None:
    """The first row of one statement (None: no row)."""
    rows = await fetch(conn, sql, params)
    return rows[0] if rows else None


async def one(conn: AsyncConnection, sql: str,
              params: Mapping[str, Any] | None = None) -> Row:
    """The one row of a statement that always returns exactly one."""
    rows = await fetch(conn, sql, params)
    if len(rows) != 1:
        raise exc.NoResultFound(f"expected one row, got {len(rows)}")
    return rows[0]


def _translated(adapter: Any, sql: str, params: Mapping[str, Any] | None,
                error: Exception) -> Exception:
    """`error` as SQLAlchemy would have raised it from conn.execute()."""
    if isinstance(error, exc.SQLAlchemyError):
        return error
    try:
        adapter._handle_exception(error)  # raises the DBAPI-level error, SQLSTATE kept
    except adapter.dbapi.Error as dbapi_error:
        translated: Exception = exc.DBAPIError.instance(sql, dict(params or {}), dbapi_error,
                                                        adapter.dbapi.Error)
        return translated
    except Exception as other:
        return other
    return error


Then = Callable[[list[Row]], Awaitable[None]]


@lru_cache(maxsize=1024)
def _renamed(sql: str, suffix: str) -> str:
    """`sql` with every parameter but `:t` ending in `suffix` (Later.own): the same few
    statements take the same few suffixes, so each is renamed once per process."""
    return PARAMETER.sub(
        lambda m: ":" + (m.group(1) if m.group(1) == "t" else m.group(1) + suffix), sql)


class Later:
    """Writes a transaction defers to its end, sent there as ONE statement (or, made
    and sent at once, one statement of several parts).

    Each part is one or more data-modifying CTEs (INSERTs of rows nothing in the
    transaction reads back: webhook events, audit events, stale marks). A part takes its
    CTE and parameter names from `name()`, so parts of several services never collide;
    `t` is the writer's tenant. At most one part gives the statement's rows (`result`),
    handed to its `then` once the statement has run — still inside the transaction.
    db.tx.write sends it after the work and before COMMIT: three services' writes cost
    one round trip instead of three."""

    def __init__(self, tenant_id: Any) -> None:
        self.ctes: list[str] = []
        self.params: dict[str, Any] = {"t": tenant_id}
        self.result: str | None = None
        self.then: Then | None = None
        self._names = 0

    def name(self, stem: str) -> str:
        """A name no other part of this statement uses (for a CTE or a parameter)."""
        self._names += 1
        return f"{stem}_{self._names}"

    def own(self, sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """`sql` and its `params` with every parameter but `t` renamed to names of this
        statement's own (a statement written on its own, made a part)."""
        suffix = self.name("")
        return (_renamed(sql, suffix),
                {name if name == "t" else name + suffix: value
                 for name, value in params.items()})

    def add(self, ctes: Sequence[str], params: Mapping[str, Any], *,
            result: str | None = None, then: Then | None = None) -> None:
        """`ctes` ("name AS (…)", named with `name()`), and, for the one part that reads
        rows back, the SELECT giving them and what to do with them."""
        if result is not None and self.result is not None:
            raise ValueError("a deferred statement gives the rows of one part only")
        self.ctes.extend(ctes)
        self.params.update(params)
        if result is not None:
            self.result, self.then = result, then

    async def send(self, conn: AsyncConnection) -> None:
        """Run the parts (when there are any) and empty this statement."""
        if not self.ctes:
            return
        ctes, params, result, then = self.ctes, self.params, self.result, self.then
        self.ctes, self.params = [], {"t": params["t"]}
        self.result = self.then = None
        rows = await fetch(conn, f"WITH {', '.join(ctes)} {result or 'SELECT 1'}", params)
        if then is not None:
            await then(rows)
