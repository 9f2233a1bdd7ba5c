"""The benchmark harness: a real server process, HTTP clients, percentiles, the table.

Every benchmark runs against `billgraph serve` started as a subprocess (uvicorn, one
worker process, the background workers on) on a fresh migrated database of an
embedded PostgreSQL in a temporary data directory (`bench._database`), or of
DATABASE_URL's server. The server runs with BILLGRAPH_EXPOSE_SQL_COUNT=true, so every
response carries `extensions.sqlStatements`.

Each figure is reported with a ceiling measured in the same run on the same machine
(the same rows written by raw asyncpg, COPY, or one INSERT … SELECT), because the
machine is shared and absolute timings drift.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from billgraph.db.engine import asyncpg_dsn

from ._database import new_tenant

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"


# ---------------------------------------------------------------- numbers


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Load:
    """What a closed-loop load produced: completed requests, errors, latencies."""

    done: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)  # the first few error messages
    generator: str = ""  # what sent the load, when it is not this process's loops: "wrk"
    quantiles: dict[int, float] = field(default_factory=dict)  # p -> s, when no latencies

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed else 0.0

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.samples) < 3:
            self.samples.append(message[:300])

    def latency(self, p: int) -> float:
        return self.quantiles[p] if p in self.quantiles else percentile(self.latencies, p)

    def summary(self, unit: str) -> str:
        by = f" ({self.generator})" if self.generator else ""
        return (f"{self.rate:,.0f} {unit}/s, p50 {self.latency(50) * 1000:.0f} ms, "
                f"p99 {self.latency(99) * 1000:.0f} ms, {self.errors} errors{by}")


async def closed_loop(clients: int, seconds: float | None, count: int | None,
                      request: Callable[[int, int], Awaitable[str | None]]) -> Load:
    """`clients` concurrent loops calling `request(client, n)` (None: success, else an error
    message) until `seconds` have passed or `count` requests were started in all."""
    load = Load()
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else None
    issued = 0

    async def loop(client: int) -> None:
        nonlocal issued
        while True:
            if deadline is not None and time.perf_counter() >= deadline:
                return
            if count is not None and issued >= count:
                return
            n = issued
            issued += 1
            t0 = time.perf_counter()
            try:
                failure = await request(client, n)
            except Exception as exc:  # every failure is counted, not raised
                failure = f"{type(exc).__name__}: {exc}"
            load.latencies.append(time.perf_counter() - t0)
            if failure is None:
                load.done += 1
            else:
                load.error(failure)

    await asyncio.gather(*(loop(c) for c in range(clients)))
    load.elapsed = time.perf_counter() - started
    return load


# ---------------------------------------------------------------- wrk

# The fixed-duration HTTP loads (createOrder 1a–c, reads 5b/5c, createPayment 6a/6b) are
# sent by wrk when it is on PATH (Debian's package): a C event loop that costs a few µs
# of CPU per request, where the httpx lanes of this process cost about as much as the
# server itself on a 2-core machine, and compete with it. Without wrk (or with
# BILLGRAPH_BENCH_LOAD=httpx, `bench --load httpx`) the httpx lanes send them, and each
# row says which did. The same choice holds for the whole run (--baseline included).
#
# wrk is made to end as closed_loop does: no request is started after `seconds`, the
# ones in flight are answered and counted, and the time runs from the first request to
# the last answer. (wrk alone drops up to one request per connection at the end, which
# the server still carries out: an audit event, CPU in the next row, for no count.)
# When the last answer is in, the script prints BILLGRAPH_WRK_DRAINED and wrk_load
# interrupts wrk (SIGINT: it stops and runs done()).
LOAD_ENV = "BILLGRAPH_BENCH_LOAD"
WRK_TIMEOUT = 60  # s; wrk's default (2 s) would count a slow serialized write as an error
UNIQUE = "__N__"  # in a body: replaced by a number unique to the request

WRK_SCRIPT = """-- generated by bench/harness.py: GraphQL POSTs for {seconds} s, answers checked
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} billgraph_timespec;
int clock_gettime(int clock, billgraph_timespec *now);
]]
local timespec = ffi.new("billgraph_timespec")
local function now()  -- CLOCK_MONOTONIC, seconds
  ffi.C.clock_gettime(1, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. [==[{key}]==]
local bodies = {{ {bodies} }}
local unique = {unique}
local seconds = {seconds}
local threads = {{}}
id = 0
issued, answered, errors = 0, 0, 0
started, finished = 0, 0
sample = ""
local drained = false

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function delay()  -- ms before a connection's next request: none after the window
  if started > 0 and now() - started >= seconds then
    return 3600000
  end
  return 0
end

local verified = false

function request()
  if id == 1 and not verified then  -- wrk calls it once on thread 1 to check it, unsent
    verified = true
    return wrk.format(nil, nil, nil, bodies[1])
  end
  if started == 0 then started = now() end
  issued = issued + 1
  local body = bodies[(issued - 1) % #bodies + 1]
  if unique then
    body = string.gsub(body, "{placeholder}", tostring(id * 1000000000 + issued))
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  finished = now()
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if sample == "" then sample = status .. " " .. string.sub(body, 1, 300) end
  end
  if not drained and answered == issued and finished - started >= seconds then
    drained = true
    io.write("BILLGRAPH_WRK_DRAINED\\n")
    io.flush()
  end
end

function done(summary, latency, requests)
  local n, ok, bad, first, from, to = 0, 0, 0, "", 0, 0
  for _, thread in ipairs(threads) do
    n = n + thread:get("issued")
    bad = bad + thread:get("errors")
    ok = ok + thread:get("answered")
    if first == "" then first = thread:get("sample") end
    local s, f = thread:get("started"), thread:get("finished")
    if s > 0 and (from == 0 or s < from) then from = s end
    if f > to then to = f end
  end
  local e = summary.errors
  io.write(string.format(
    "BILLGRAPH_WRK issued=%d answered=%d errors=%d connect=%d read=%d write=%d timeout=%d "
    .. "elapsed_us=%d p50_us=%d p99_us=%d\\n", n, ok, bad, e.connect, e.read, e.write,
    e.timeout, math.floor((to - from) * 1e6), latency:percentile(50), latency:percentile(99)))
  io.write("BILLGRAPH_WRK_SAMPLE " .. string.gsub(first, "\\n", " ") .. "\\n")
end
"""


def load_generator() -> str:
    """"wrk" or "httpx": what sends the fixed-duration loads of this run."""
    wanted = os.environ.get(LOAD_ENV, "auto")
    if wanted not in ("auto", "wrk", "httpx"):
        raise RuntimeError(f"{LOAD_ENV}={wanted!r}: auto, wrk or httpx")
    if wanted == "httpx" or (wanted == "auto" and shutil.which("wrk") is None):
        return "httpx"
    if shutil.which("wrk") is None:
        raise RuntimeError(f"{LOAD_ENV}=wrk but wrk is not on PATH (apt-get install wrk)")
    return "wrk"


def wrk_script(key: str, bodies: list[str], seconds: float) -> str:
    """The Lua script sending `bodies` in turn (a counter picks each request's) with the
    key for `seconds`, counting the answers that are not HTTP 200 or carry "errors"."""
    if not bodies:
        raise ValueError("wrk: no request bodies")
    for text in (key, *bodies):
        if "]==]" in text:
            raise ValueError("wrk: a body or key holds the Lua string delimiter ]==]")
    return WRK_SCRIPT.format(key=key, bodies=", ".join(f"[==[{b}]==]" for b in bodies),
                             unique="true" if any(UNIQUE in b for b in bodies) else "false",
                             placeholder=UNIQUE, seconds=repr(float(seconds)))


def parse_wrk(output: str) -> Load:
    """The Load of wrk's output: the BILLGRAPH_WRK lines the script's done() printed.
    Errors: the answers that were not HTTP 200 or carried "errors", the requests never
    answered (a connection lost with its request: wrk counts a read error), failed
    connects and writes, and wrk's timeouts. wrk's read errors alone are not: the
    server closing a keep-alive connection that waits out the end (idle for its 5 s)
    is one, and loses no request."""
    counts: dict[str, int] = {}
    sample = ""
    for line in output.splitlines():
        if line.startswith("BILLGRAPH_WRK "):
            counts = {k: int(v) for k, v in (f.split("=") for f in line.split()[1:])}
        elif line.startswith("BILLGRAPH_WRK_SAMPLE"):
            sample = line.removeprefix("BILLGRAPH_WRK_SAMPLE").strip()
    if not counts:
        raise RuntimeError(f"wrk printed no counts:\n{output[-2000:]}")
    unanswered = max(0, counts["issued"] - counts["answered"])
    socket = counts["connect"] + counts["write"] + counts["timeout"]
    load = Load(done=counts["answered"] - counts["errors"],
                errors=counts["errors"] + unanswered + socket,
                elapsed=counts["elapsed_us"] / 1e6, generator="wrk",
                quantiles={50: counts["p50_us"] / 1e6, 99: counts["p99_us"] / 1e6})
    if counts["errors"]:
        load.samples.append(sample)
    if unanswered or socket:
        load.samples.append(
            f"{unanswered} requests unanswered when wrk stopped; wrk's socket errors: "
            + ", ".join(f"{counts[k]} {k}" for k in ("connect", "read", "write", "timeout")))
    return load


async def wrk_load(url: str, key: str, bodies: list[str], connections: int,
                   seconds: float) -> Load:
    """`connections` keep-alive connections of one wrk thread POSTing to /graphql for
    `seconds`, then answered (interrupted once the script says so; -d is the bound)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="billgraph-bench-") as lua:
        lua.write(wrk_script(key, bodies, seconds))
        lua.flush()
        bound = math.ceil(seconds) + 2 * WRK_TIMEOUT
        proc = await asyncio.create_subprocess_exec(
            "wrk", "-t", "1", "-c", str(connections), "-d", f"{bound}s",
            "--timeout", f"{WRK_TIMEOUT}s", "-s", lua.name, f"{url}/graphql",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert proc.stdout is not None
        lines: list[str] = []
        while line := (await proc.stdout.readline()).decode(errors="replace"):
            lines.append(line)
            if line.startswith("BILLGRAPH_WRK_DRAINED") and proc.returncode is None:
                proc.send_signal(signal.SIGINT)  # wrk stops, prints, runs done()
        await proc.wait()
    text = "".join(lines)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk exited {proc.returncode}:\n{text[-2000:]}")
    return parse_wrk(text)


async def fixed_load(client: Client, operations: list[tuple[str, dict[str, Any]]],
                     connections: int, seconds: float) -> Load:
    """`connections` clients sending GraphQL `operations` (query, variables) for `seconds`,
    by wrk (each request the next operation, in turn) or, without it, by the httpx
    lanes (lane c always operations[c % len]); any non-200 or "errors" answer counts
    as an error."""
    if load_generator() == "wrk":
        bodies = [json.dumps({"query": q, "variables": v}, separators=(",", ":"))
                  for q, v in operations]
        return await wrk_load(client.url, client.key, bodies, connections, seconds)

    async def request(c: int, n: int) -> str | None:
        query, variables = operations[c % len(operations)]
        return await client.attempt(query, variables, lane=c)

    load = await closed_loop(connections, seconds, None, request)
    load.generator = "httpx"
    return load


# ---------------------------------------------------------------- the table


@dataclass
class Row:
    """One line of the table: a figure, the ceiling it is compared with, the target."""

    name: str
    result: str
    ceiling: str  # what the ceiling is and its figure
    ratio: float | None  # result / ceiling (throughput) or ceiling / result (time)
    target: str
    holds: bool | None  # None: not judged (quick mode does not judge timings)
    # for `--baseline REV`: the figure as a number (higher is better: requests/s, or 1/s
    # of a run) and the server's CPU per request in ms, compared new/old row by row
    rate: float | None = None
    cpu_ms: float | None = None


@dataclass
class Report:
    quick: bool
    rows: list[Row] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # zero-error / flat-SQL properties
    notes: list[str] = field(default_factory=list)
    suffix: str = ""  # appended to every row's name: the server's process count

    def add(self, row: Row) -> None:
        row = dataclasses.replace(row, name=row.name + self.suffix)
        self.rows.append(row)
        verdict = {True: "holds", False: "MISSED", None: "-"}[row.holds]
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        print(f"  [{row.name}] {row.result} | ceiling {row.ceiling} | ratio {ratio} | "
              f"{row.target}: {verdict}", flush=True)

    def require(self, ok: bool, what: str) -> bool:
        """A property every run must have (checked in quick mode too)."""
        if not ok:
            self.violations.append(what)
            print(f"  VIOLATION: {what}", flush=True)
        return ok

    def judge(self, ok: bool) -> bool | None:
        """A timing target: judged in a full run only."""
        return None if self.quick else ok

    def table(self) -> str:
        lines = ["| benchmark | result | ceiling (same run) | ratio | target | holds |",
                 "|---|---|---|---|---|---|"]
        for r in self.rows:
            ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
            verdict = {True: "yes", False: "**no**", None: "-"}[r.holds]
            lines.append(f"| {r.name} | {r.result} | {r.ceiling} | {ratio} | {r.target} | "
                         f"{verdict} |")
        return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    return f"{os.cpu_count()} CPUs ({model}){ram}, Python {platform.python_version()}"


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH_DIR,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=BENCH_DIR, capture_output=True, text=True).stdout.strip()
        return head + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def append_results(report: Report, started: dt.datetime, seconds: float) -> None:
    mode = "quick" if report.quick else "full"
    header = (f"\n### {started:%Y-%m-%d %H:%M} UTC — commit {commit()} — {mode} run\n\n"
              f"Machine: {machine()}; load average at the end {load_average()}; "
              f"the run took {seconds:.0f} s.\n\n")
    notes = "".join(f"- {n}\n" for n in report.notes)
    body = header + report.table() + "\n" + (f"\n{notes}" if notes else "")
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nAppended by `billgraph bench`.\n")
    with RESULTS.open("a") as out:
        out.write(body)


# ---------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`billgraph serve` in a subprocess on the bench database."""

    def __init__(self, database_url: str, *, python: str = sys.executable,
                 **settings: str) -> None:
        self.database_url, self.python = database_url, python
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.gettempdir()) / f"billgraph-bench-server-{self.port}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        # The per-tenant rate limit (1,000 requests/s per process by default) is off: the
        # loads measure throughput, and `{ __typename }` from one tenant's key goes past it
        # (an earlier build without the setting ignores it).
        env = {**os.environ, "DATABASE_URL": self.database_url,
               "BILLGRAPH_EXPOSE_SQL_COUNT": "true", "BILLGRAPH_LOG_LEVEL": "WARNING",
               "BILLGRAPH_GRAPHIQL": "false", "BILLGRAPH_RATE_LIMIT_PER_SECOND": "0",
               **{f"BILLGRAPH_{k.upper()}": v for k, v in self.settings.items()}}
        self.process = self._spawn(env)
        async with httpx.AsyncClient(base_url=self.url) as http:
            for _ in range(600):
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited; see {self.log}")
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the server did not start in 60 s")

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [self.python, "-m", "billgraph.cli", "serve", "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=self.log.open("wb"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.log.exists() and self.log.stat().st_size == 0:
            self.log.unlink()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- clients


class GraphQLError(Exception):
    pass


class Client:
    """GraphQL over HTTP with one tenant's write key: `lanes` httpx clients, one keep-alive
    connection each, so N concurrent loops are N independent HTTP clients. (One shared
    httpx.AsyncClient serving 32 concurrent requests spent ~6 ms of CPU per request in
    its connection pool on the bench machine — more than the server — and starved the
    server of the machine's two cores.)"""

    def __init__(self, url: str, key: str, lanes: int = 32) -> None:
        self.url, self.key = url, key
        self.lanes = [httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1,
                                keepalive_expiry=2.0))  # before the server closes it (5 s)
            for _ in range(lanes)]

    async def close(self) -> None:
        for lane in self.lanes:
            await lane.aclose()

    async def post(self, query: str, variables: dict[str, Any] | None = None, *,
                   lane: int = 0) -> tuple[dict[str, Any], int]:
        http = self.lanes[lane % len(self.lanes)]
        response = await http.post("/graphql", json={"query": query,
                                                     "variables": variables or {}})
        return response.json(), response.status_code

    async def gql(self, query: str, variables: dict[str, Any] | None = None, *,
                  lane: int = 0) -> Any:
        """The data of a request that must succeed."""
        body, status = await self.post(query, variables, lane=lane)
        if body.get("errors") or status != 200:
            raise GraphQLError(str(body.get("errors") or body)[:1000])
        return body["data"]

    async def attempt(self, query: str, variables: dict[str, Any] | None = None, *,
                      lane: int = 0) -> str | None:
        """None when the request succeeded, else its error (for closed_loop)."""
        body, status = await self.post(query, variables, lane=lane)
        if body.get("errors") or status != 200:
            return str(body.get("errors") or body)
        return None


# ---------------------------------------------------------------- one bench run


@dataclass
class Bench:
    """Everything a benchmark module needs: sizes, the database, the server, the report."""

    quick: bool
    database_url: str
    server: Server
    report: Report
    shared: dict[str, Any] = field(default_factory=dict)  # what one benchmark leaves another
    # how a tenant and its first key are made: this build's service, or an earlier build's
    # `billgraph tenant create` (bench --baseline)
    make_tenant: Callable[[str, str], Awaitable[tuple[uuid.UUID, str]]] = new_tenant
    baseline: bool = False  # the server is an earlier build (leave out what it lacks)

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.database_url)

    async def tenant(self, name: str) -> tuple[uuid.UUID, Client]:
        """A fresh tenant and a client with its write key."""
        tenant_id, key = await self.make_tenant(self.database_url,
                                                f"{name}-{uuid.uuid4().hex[:8]}")
        return tenant_id, Client(self.server.url, key)

    async def cpu_meter(self) -> CpuMeter:
        """A CpuMeter of the server, this process and the bench database's cluster."""
        if "postmaster" not in self.shared:
            self.shared["postmaster"] = await postmaster_pid(self.dsn)
        return CpuMeter(self.server.pid, self.shared["postmaster"])

    async def pool(self, size: int) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(self.dsn, min_size=size, max_size=size)
        assert pool is not None
        return pool

    async def sql(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


def refresh_rows(report: Report, names: tuple[str, str], ceilings: tuple[str, str],
                 times: tuple[list[float], list[float], list[float]], limit: float) -> None:
    """The two rows of a recompute measured three ways (times in seconds): through the
    API against its statement, then the statement against the least any recompute must
    do. `names` are the two rows', `ceilings` name the statement and that least; `limit`
    holds for each time of the first two."""
    api, statement, _ = times
    api_p50, statement_p50, bare_p50 = (percentile(t, 50) for t in times)
    target = f"≤ {limit:g} s each"
    report.add(Row(
        names[0], f"p50 {fmt_seconds(api_p50)}, max {fmt_seconds(max(api))}",
        f"{ceilings[0]}: p50 {fmt_seconds(statement_p50)}", statement_p50 / api_p50,
        target, report.judge(max(api) <= limit), rate=1 / api_p50))
    report.add(Row(
        names[1], f"p50 {fmt_seconds(statement_p50)}, max {fmt_seconds(max(statement))}",
        f"{ceilings[1]}: p50 {fmt_seconds(bare_p50)}", bare_p50 / statement_p50,
        target, report.judge(max(statement) <= limit)))


# ---------------------------------------------------------------- shared setup

FLEET = """mutation { createPricePlan(input: {code: "FLEET", name: "Fleet", charges: [
  {productCode: "TRACKER", chargeType: RECURRING, price: "12.00"},
  {productCode: "SUPPORT", chargeType: RECURRING, price: "60.00", pricePeriod: QUARTERLY},
  {productCode: "SIM", chargeType: RECURRING, price: "3.00"}]}) { id } }"""


async def fleet_catalog(client: Client) -> None:
    """Products TRACKER, SUPPORT, SIM in plan FLEET (USD): 12.00 a month, 60.00 a quarter,
    3.00 a month."""
    for code in ("TRACKER", "SUPPORT", "SIM"):
        await client.gql("mutation($c: String!) { createProduct(input: {code: $c, name: $c}) "
                         "{ id } }", {"c": code})
    await client.gql(FLEET)


async def create_account(client: Client, name: str, partner: bool) -> str:
    data = await client.gql("mutation($n: String!, $p: Boolean) { createAccount(input: "
                            "{name: $n, partnerAccount: $p}) { id } }", {"n": name, "p": partner})
    return str(data["createAccount"]["id"])


def fmt_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


# plan FLEET of tenant $1 and its charges of the products {products} (a SQL condition)
FLEET_CTES = """plan AS (
    SELECT p.id AS plan_id, s.id AS scheme_id FROM price_plans p
    JOIN billing_term_schemes s ON s.tenant_id = p.tenant_id AND s.code = 'DEFAULT'
    WHERE p.tenant_id = $1 AND p.code = 'FLEET'),
charges AS (
    SELECT c.product_id, c.price, c.price_period,
           CASE c.price_period WHEN 'QUARTERLY' THEN c.price / 3 ELSE c.price END AS mrr
    FROM plan_charges c JOIN plan ON c.price_plan_id = plan.plan_id
    JOIN products pr ON pr.tenant_id = c.tenant_id AND pr.id = c.product_id
    WHERE c.tenant_id = $1 AND {products})"""

SEED = "WITH " + FLEET_CTES.format(products="pr.code = ANY($6::text[])") + """,
sub AS (
    INSERT INTO subscriptions (tenant_id, id, subscription_number, owner_account_id,
        invoice_owner_account_id, status, start_date, price_plan_id, scheme_id,
        billing_cycle_day, agreement_date, billing_frequency)
    SELECT $1, gen_random_uuid(), $2 || n, $3, $4, 'ACTIVE', DATE '2026-01-01', plan.plan_id,
           plan.scheme_id, 1, DATE '2026-01-01', 'MONTHLY'
    FROM plan, generate_series(1, $5) n
    RETURNING id, owner_account_id, invoice_owner_account_id),
own AS (
    INSERT INTO subscription_owners (tenant_id, id, subscription_id, effective_date,
                                     owner_account_id, invoice_owner_account_id)
    SELECT $1, gen_random_uuid(), id, DATE '2026-01-01', owner_account_id,
           invoice_owner_account_id FROM sub),
items AS (
    INSERT INTO subscription_items (tenant_id, id, subscription_id, product_id, charge_type,
                                    quantity, price, price_period, start_date, mrr)
    SELECT $1, gen_random_uuid(), sub.id, c.product_id, 'RECURRING', 1, c.price,
           c.price_period, DATE '2026-01-01', c.mrr
    FROM sub, charges c)
SELECT count(*) FROM sub
"""


async def seed_subscriptions(bench: Bench, tenant_id: uuid.UUID, prefix: str, owner: str,
                             invoice_owner: str, count: int,
                             products: tuple[str, ...] = ("TRACKER", "SUPPORT")) -> None:
    """`count` ACTIVE subscriptions of plan FLEET (one item per product) written with SQL,
    owned by `owner` and invoiced to `invoice_owner` (setup, not what is measured)."""
    conn = await asyncpg.connect(bench.dsn)
    try:
        await conn.execute(SEED, tenant_id, prefix, uuid.UUID(owner), uuid.UUID(invoice_owner),
                           count, list(products))
        await conn.execute("ANALYZE subscriptions, subscription_items, subscription_owners")
    finally:
        await conn.close()


def parent_pid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and of its running children (`serve --workers N`'s processes)."""
    return cpu_seconds(pid) + sum(
        cpu_seconds(int(entry.name)) for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and parent_pid(int(entry.name)) == pid)


PROFILED = itertools.count(1)


def start_profiler(pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy recording the server while a CpuMeter measures, when $BILLGRAPH_BENCH_PROFILE
    names a directory: one collapsed-stack file per measured load, numbered in run order
    (`py-spy` must be on PATH or beside this Python)."""
    directory = os.environ.get("BILLGRAPH_BENCH_PROFILE")
    if not directory:
        return None
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    Path(directory).mkdir(parents=True, exist_ok=True)
    out = Path(directory) / f"load-{next(PROFILED):02d}-{pid}.txt"
    process = subprocess.Popen([spy, "record", "--pid", str(pid), "--subprocesses",
                                "--format", "raw", "--rate", "250", "--nonblocking",
                                "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached before the load starts
    return process


def stop_profiler(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


class CpuMeter:
    """CPU seconds spent by the server, by this (client) process, and by the PostgreSQL
    cluster of the bench database (its postmaster's children), between start and stop."""

    def __init__(self, server_pid: int, postmaster_pid: int) -> None:
        self.server_pid, self.postmaster_pid = server_pid, postmaster_pid

    def sample(self) -> tuple[float, float, float]:
        postgres = 0.0
        if self.postmaster_pid:
            # the postmaster's own time and that of its children that have exited ...
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = Path(f"/proc/{self.postmaster_pid}/stat").read_text().rsplit(
                    ")", 1)[1].split()
                postgres += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
            # ... and of those running now
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit() and parent_pid(int(entry.name)) == self.postmaster_pid:
                    postgres += cpu_seconds(int(entry.name))
        # the client: this process and its children waited for (wrk)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client = time.process_time() + children.ru_utime + children.ru_stime
        return (tree_cpu_seconds(self.server_pid), client, postgres)

    def __enter__(self) -> CpuMeter:
        self.profiler = start_profiler(self.server_pid)
        self.start = self.sample()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self.sample()
        stop_profiler(self.profiler)
        self.server, self.client, self.postgres = (e - s for s, e in zip(self.start, end,
                                                                          strict=True))

    def server_ms(self, n: int) -> float:
        """The server's CPU per request, in ms."""
        return self.server / max(n, 1) * 1000

    def per(self, n: int, unit: str = "order") -> str:
        n = max(n, 1)
        return (f"CPU per {unit}: server {self.server / n * 1000:.2f} ms, PostgreSQL "
                f"{self.postgres / n * 1000:.2f} ms, client {self.client / n * 1000:.2f} ms")


async def postmaster_pid(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return parent_pid(int(await conn.fetchval("SELECT pg_backend_pid()")))
    finally:
        await conn.close()
