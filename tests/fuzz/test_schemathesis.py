"""A bounded schemathesis run (GraphQL mode) against a live server process with workers.

Every query and mutation gets positive and negative cases; a failure is any 5xx,
any error with extensions.code INTERNAL (or no code at all), or no answer. Then,
once the background work is done, every account is refreshed and the database
invariants must hold. The long run is `python -m bench.fuzz --minutes 10`.

Sized for CI on 2 cores (about a minute of fuzzing); BILLGRAPH_FUZZ_EXAMPLES and
BILLGRAPH_FUZZ_SEED change the size and the seed.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest
from bench import fuzz
from bench._database import new_tenant

from tests import processes

EXAMPLES = int(os.environ.get("BILLGRAPH_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("BILLGRAPH_FUZZ_SEED", "20261122"))
ROUNDS = 3
BUDGET_SECONDS = 100


@pytest.mark.fuzz
async def test_fuzz_every_operation(database_url: str) -> None:
    tenant_id, key = await new_tenant(database_url, "fuzz")
    server = await asyncio.to_thread(processes.start, database_url, workers=True,
                                     settings={"worker_tick_seconds": 0.2})
    try:
        def run() -> fuzz.Stats:
            with httpx.Client(base_url=server.url, timeout=60,
                              headers={"Authorization": f"Bearer {key}"}) as http:
                pool = fuzz.seed(http)
            fuzz.register_scalars(pool)
            stats = fuzz.Stats()
            deadline = time.monotonic() + BUDGET_SECONDS
            for n in range(ROUNDS):
                fuzz.fuzz_round(server.url, key, stats, examples=EXAMPLES, seed=SEED + n,
                                pool=pool, deadline=deadline)
            return stats

        stats = await asyncio.to_thread(run)
        print(f"\nseed {SEED}\n{stats.summary()}")
        assert not stats.failures, stats.summary()
        assert len(stats.operations) >= 40, sorted(stats.operations)
        # documents built valid reach the success paths random ones never do
        for operation in ("createOrder", "applyPayment", "applyCreditMemo"):
            assert stats.from_valid_accepted[f"Mutation.{operation}"] > 0, stats.summary()
        assert not await fuzz.wait_until_quiet(database_url, timeout=120)
        assert not await fuzz.background_internal_errors(database_url, tenant_id)
        assert not await fuzz.check_invariants(server.url, key, database_url, tenant_id)
        assert not fuzz.server_tracebacks(server.log()), fuzz.server_tracebacks(server.log())
    finally:
        await asyncio.to_thread(server.stop)
        server.log_file.close()
