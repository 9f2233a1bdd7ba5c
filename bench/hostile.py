"""Hostile documents against a live server: how fast each is refused, and that none hurts.

    python -m bench.hostile [--quick] [--repeat N]

Starts `billgraph serve` (embedded PostgreSQL in a temporary directory, as on a fresh
machine; DATABASE_URL's server when set), then sends each hostile request N times
(--quick: 3) and prints, per case: the HTTP status and error code, the client's wall
time (median and worst) and the server process's CPU time per request. The target is
well under 100 ms of server time each, no 5xx, no INTERNAL, and no RecursionError (or
any traceback) in the server log. Exits 1 when a case misses it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

TARGET_MS = 100.0


def circular_fragments() -> dict[str, object]:
    return {"query": "{ viewer { ...A } } fragment A on Tenant { id ...B } "
                     "fragment B on Tenant { name ...A }"}


def typename(times: int) -> Callable[[], dict[str, object]]:
    return lambda: {"query": "{ " + "__typename " * times + "}"}


def aliases(count: int) -> dict[str, object]:
    return {"query": "{ " + " ".join(f"a{i}: __typename" for i in range(count)) + " }"}


def fragment_bomb() -> dict[str, object]:
    fragments = ["fragment F0 on Tenant { id name }"]
    fragments += [f"fragment F{i} on Tenant {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 50)]
    return {"query": "{ viewer { ...F49 } } " + " ".join(fragments)}


def wide_fragment_bomb() -> dict[str, object]:
    """Each fragment spreads the previous one ten times: 10^6 fields if expanded."""
    fragments = ["fragment W0 on Tenant { id }"]
    fragments += ["fragment W{} on Tenant {{ {} }}".format(i, " ".join([f"...W{i - 1}"] * 10))
                  for i in range(1, 7)]
    return {"query": "{ viewer { ...W6 } } " + " ".join(fragments)}


def deep_nesting() -> dict[str, object]:
    depth = 3000
    return {"query": "{ viewer " + "{ settings " * depth + "{ defaultCurrency }" + " }" * depth
                     + " }"}


def many_tokens() -> dict[str, object]:
    return {"query": "{ viewer { id } }" + " # x\n" + "{ viewer { id } } " * 5000}


def huge_page() -> dict[str, object]:
    return {"query": "{ a: accounts(first: 500) { edges { node { metrics { balance } "
                     "subscriptions(first: 500) { edges { node { items { mrr } } } } } } } }"}


@dataclass
class Case:
    name: str
    body: Callable[[], object]
    raw: bytes | None = None  # sent as is instead of JSON


CASES = [
    Case("circular fragments", circular_fragments),
    Case("__typename x 1,000", typename(1000)),
    Case("__typename x 1,001", typename(1001)),
    Case("10,000 aliases", lambda: aliases(10_000)),
    Case("fragment bomb (2^49 fields)", fragment_bomb),
    Case("wide fragment bomb (10^6 fields)", wide_fragment_bomb),
    Case("3,000 levels deep", deep_nesting),
    Case("10,000+ tokens", many_tokens),
    Case("cost: 500 x 500 page", huge_page),
    Case("7 MB of whitespace", lambda: {"query": "{ viewer { id } }" + " " * 7_000_000}),
    Case("7 MB comment", lambda: {"query": "{ viewer { id } } #" + "x" * 7_000_000}),
    Case("7 MB string literal",
         lambda: {"query": '{ account(accountNumber: "' + "x" * 7_000_000 + '") { id } }'}),
    Case("10 MB body", lambda: None,
         raw=json.dumps({"query": "{ viewer { id } }", "variables": {"x": "y" * 10_000_000}})
         .encode()),
    Case("batch of 1,000 operations", lambda: [{"query": "{ viewer { id } }"}] * 1000),
]


@dataclass
class Result:
    name: str
    status: int
    code: str
    wall_ms: list[float]
    cpu_ms: float

    @property
    def ok(self) -> bool:
        return self.status < 500 and self.code not in ("INTERNAL", "-") \
            and self.cpu_ms < TARGET_MS and max(self.wall_ms) < 2 * TARGET_MS


def measure(http: httpx.Client, key: str, case: Case, repeat: int,
            cpu: Callable[[], float]) -> Result:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    content = case.raw if case.raw is not None else json.dumps(case.body()).encode()
    walls: list[float] = []
    status, code = 0, "-"
    http.post("/graphql", content=content, headers=headers)  # warm-up (not counted)
    before = cpu()
    for _ in range(repeat):
        started = time.perf_counter()
        response = http.post("/graphql", content=content, headers=headers)
        walls.append((time.perf_counter() - started) * 1000)
        status = response.status_code
        try:
            body = response.json()
            errors = body.get("errors") if isinstance(body, dict) else None
            code = str((errors[0].get("extensions") or {}).get("code")) if errors else "answered"
        except ValueError:
            code = "not JSON"
    return Result(case.name, status, code, walls, (cpu() - before) * 1000 / repeat)


@contextmanager
def hostile_server() -> Iterator[tuple[str, str, Callable[[], float], Callable[[], str]]]:
    """A server on a fresh embedded PostgreSQL (or DATABASE_URL): url, key, cpu(), log()."""
    import os

    from tests import processes

    if os.environ.get("DATABASE_URL"):
        from bench._database import fresh_database, new_tenant

        with fresh_database("hostile") as url, processes.serve(url, workers=False) as server:
            _, key = asyncio.run(new_tenant(url, "hostile"))
            yield server.url, key, server.cpu_seconds, server.log
        return
    with tempfile.TemporaryDirectory(prefix="billgraph-hostile-") as tmp, \
            processes.serve(None, data_dir=Path(tmp), workers=False) as server:
        printed = server.key()
        assert printed, server.log()
        key = printed
        yield server.url, key, server.cpu_seconds, server.log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions (CI)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    repeat = 3 if args.quick else args.repeat
    with hostile_server() as (url, key, cpu, log), \
            httpx.Client(base_url=url, timeout=60) as http:
        results = [measure(http, key, case, repeat, cpu) for case in CASES]
        server_log = log()
    print(f"{'case':36} {'HTTP':>4} {'answer':18} {'wall median':>12} {'wall max':>9} "
          f"{'server CPU':>11}")
    for r in results:
        print(f"{r.name:36} {r.status:>4} {r.code:18} {statistics.median(r.wall_ms):9.1f} ms "
              f"{max(r.wall_ms):6.1f} ms {r.cpu_ms:8.1f} ms {'' if r.ok else '  <-- MISSED'}")
    recursion = "RecursionError" in server_log
    tracebacks = server_log.count("Traceback")
    print(f"\n{repeat} requests per case; target: server CPU < {TARGET_MS:.0f} ms each, "
          f"no 5xx, no INTERNAL")
    print(f"RecursionError in the server log: {'YES' if recursion else 'no'}; "
          f"tracebacks: {tracebacks}")
    raise SystemExit(0 if all(r.ok for r in results) and not recursion and not tracebacks
                     else 1)


if __name__ == "__main__":
    main()
