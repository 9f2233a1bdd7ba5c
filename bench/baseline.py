"""`billgraph bench --baseline REV`: every scenario against this build and against REV
(a commit) in the same run, on the same PostgreSQL, alternating scenario by scenario.

REV is exported with `git archive` and installed into a venv of its own under
~/.cache/billgraph-bench/<commit> (kept: the next run reuses it). Its server serves a
database of its own on the same cluster, migrated by REV's own `billgraph migrate`; its
tenants come from REV's `billgraph tenant create`. Scenarios that need an API REV does
not have are not run against it (BASELINE_SCENARIOS). For each row both builds print,
the table gives new/old of throughput and of server CPU per request.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from billgraph.db.engine import asyncpg_dsn

from .harness import BENCH_DIR, Report

DEFAULT = "d0fe6db"  # the release before partner accounts' CPU work (issue 13)
# the scenarios whose API every build since DEFAULT serves (not refresh: its statement
# rows run this build's recompute SQL, which an older schema lacks the tables of)
BASELINE_SCENARIOS = ("orders", "invoices", "payments", "bill_runs", "reads")


@dataclass(frozen=True)
class Build:
    rev: str
    commit: str
    python: Path

    @property
    def label(self) -> str:
        return f" [baseline {self.commit[:7]}]"

    def env(self, database_url: str) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": database_url, "BILLGRAPH_LOG_LEVEL": "WARNING"}

    def cli(self, database_url: str, *args: str) -> str:
        done = subprocess.run([str(self.python), "-m", "billgraph.cli", *args],
                              env=self.env(database_url), capture_output=True, text=True,
                              cwd=self.python.parents[2])
        if done.returncode != 0:
            raise RuntimeError(f"baseline {self.commit[:7]}: billgraph {' '.join(args)} "
                               f"failed: {done.stderr[-2000:]}")
        return done.stdout

    def migrate(self, database_url: str) -> None:
        self.cli(database_url, "migrate")

    async def new_tenant(self, database_url: str, name: str) -> tuple[uuid.UUID, str]:
        out = self.cli(database_url, "tenant", "create", name)
        match = re.search(r"\bbgk_\S+", out)
        if match is None:
            raise RuntimeError(f"baseline tenant create printed no key: {out!r}")
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            tenant_id = await conn.fetchval("SELECT id FROM tenants WHERE name = $1", name)
        finally:
            await conn.close()
        return tenant_id, match.group(0)


def prepare(rev: str) -> Build:
    """REV installed in its own venv (cached by commit)."""
    root_dir = BENCH_DIR.parent
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
                            cwd=root_dir, capture_output=True, text=True, check=True
                            ).stdout.strip()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    home = cache / "billgraph-bench" / commit
    python = home / ".venv" / "bin" / "python"
    if not (home / "installed").exists():
        print(f"baseline: installing {rev} ({commit[:7]}) into {home}", flush=True)
        shutil.rmtree(home, ignore_errors=True)
        (home / "src").mkdir(parents=True)
        archive = subprocess.Popen(["git", "archive", commit], cwd=root_dir,
                                   stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(home / "src")], stdin=archive.stdout,
                       check=True)
        if archive.wait() != 0:
            raise RuntimeError(f"git archive {commit} failed")
        subprocess.run([sys.executable, "-m", "venv", str(home / ".venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(home / "src")],
                       check=True)
        (home / "installed").write_text(commit + "\n")
    return Build(rev, commit, python)


def comparison(report: Report, build: Build) -> str:
    """new/old per row that both builds printed: throughput and server CPU per request."""
    old = {r.name[:-len(build.label)]: r for r in report.rows if r.name.endswith(build.label)}
    lines = [f"| benchmark | this build | {build.commit[:7]} | throughput new/old "
             "| server CPU per request new/old |", "|---|---|---|---|---|"]
    for new in report.rows:
        base = old.get(new.name)
        if base is None:
            continue
        lines.append(f"| {new.name} | {new.result} | {base.result} | "
                     f"{ratio(new.rate, base.rate)} | {ratio(new.cpu_ms, base.cpu_ms)} |")
    return "\n".join(lines)


def ratio(new: float | None, old: float | None) -> str:
    return f"{new / old:.2f}" if new is not None and old else "-"

