"""Servers in processes of their own: for killing (fault tests), fuzzing and bench commands.

`serve()` runs `python -m billgraph.cli serve` exactly as an operator would, with
settings from the environment: on `database_url` when given (the test database),
otherwise on an embedded PostgreSQL that the server starts in `data_dir` (and,
on a fresh directory, prints the first tenant's key, which is picked up here).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from tests.support import LiveServer

ROOT = Path(__file__).resolve().parents[1]
KEY = re.compile(r"\bbgk_[A-Za-z0-9_-]{20,}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    url: str
    proc: subprocess.Popen[str]
    log_file: IO[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        self.log_file.flush()
        self.log_file.seek(0)
        return self.log_file.read()

    def key(self) -> str | None:
        """The key a fresh embedded server printed for its first tenant."""
        found = KEY.search(self.log())
        return found.group(0) if found else None

    def rss_bytes(self) -> int:
        """Resident memory of the server process (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start(database_url: str | None = None, *, data_dir: Path | None = None,
          workers: bool = True, settings: dict[str, Any] | None = None,
          timeout: float = 120) -> ServerProcess:
    """Start `billgraph serve` on a free port and wait until /healthz answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BILLGRAPH_") and k != "DATABASE_URL"}
    env["BILLGRAPH_LOG_LEVEL"] = "WARNING"
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    if data_dir is not None:
        env["BILLGRAPH_DATA_DIR"] = str(data_dir)
    for name, value in (settings or {}).items():
        env[f"BILLGRAPH_{name.upper()}"] = str(value)
    args = [sys.executable, "-m", "billgraph.cli", "serve", "--port", str(port)]
    if not workers:
        args.append("--no-workers")
    log = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
    server = ServerProcess(f"http://127.0.0.1:{port}", proc, log, env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"the server did not start in {timeout} s:\n{server.log()}")


@contextlib.contextmanager
def serve(database_url: str | None = None, **kw: Any) -> Iterator[ServerProcess]:
    server = start(database_url, **kw)
    try:
        yield server
    finally:
        server.stop()
        server.log_file.close()


@contextlib.asynccontextmanager
async def serve_processes(database_url: str, processes: int) -> AsyncIterator[LiveServer]:
    """`billgraph serve --workers N --no-workers` on the database, as a LiveServer."""
    server = await asyncio.to_thread(start, database_url, workers=False,
                                     settings={"workers": processes}, timeout=300)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            yield LiveServer(server.url, database_url, http)
    finally:
        await asyncio.to_thread(server.stop)
        server.log_file.close()
