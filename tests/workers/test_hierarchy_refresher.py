"""The roll-up refresher: a move re-rolls both the old and the new hierarchy at the next
refresh; a member's change is rolled up within one interval plus a tick, not before."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.api.hierarchy_support import account, invoice, move, pay, rollups, sums
from tests.support import Client, start_server

TICK = 0.2
INTERVAL = 2


async def settled(client: Client, *accounts: str, timeout: float = 15) -> float:
    """Seconds until every account's roll-ups are not stale."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        rows = [await rollups(client, a) for a in accounts]
        if all(not r["stale"] for rows_ in rows for r in rows_.values()):
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"still stale after {timeout} s: {rows}")


def usd(rows: dict[str, dict[str, Any]]) -> tuple[Any, ...]:
    return sums(rows)["USD"]


async def test_a_move_re_rolls_old_and_new_ancestors_at_the_next_refresh(
        database_url: str) -> None:
    async with start_server(database_url, run_workers=True, worker_tick_seconds=TICK) as server, \
            server.new_tenant("moves") as client:
        await client.gql("mutation($s: Int!) { updateTenantSettings(input: "
                         "{metricsRefreshIntervalSeconds: $s}) { id } }", {"s": INTERVAL})
        old_top, new_top = await account(client, "Old distributor"), await account(client, "New")
        reseller = await account(client, "Reseller", old_top)
        await invoice(client, await account(client, "End user", reseller), "40.00")
        await invoice(client, await account(client, "Stays", old_top), "2.00")
        await invoice(client, await account(client, "Already there", new_top), "5.00")
        # never rolled up: due at once
        await settled(client, old_top, new_top)
        assert usd(await rollups(client, old_top)) == (4, "42.00", "0.00", "42.00", "0.00")
        assert usd(await rollups(client, new_top)) == (2, "5.00", "0.00", "5.00", "0.00")
        computed = (await rollups(client, old_top))["USD"]["lastMetricsUpdate"]

        await move(client, reseller, new_top)  # the reseller and its end user
        for top in (old_top, new_top):
            assert (await rollups(client, top))["USD"]["stale"] is True
        waited = await settled(client, old_top, new_top)
        assert waited <= INTERVAL + TICK + 1.0, waited  # the interval (+ a tick, CI slack)
        # old: itself + "Stays" = 2 accounts, 2.00; new: itself + 1 + reseller + end user
        assert usd(await rollups(client, old_top)) == (2, "2.00", "0.00", "2.00", "0.00")
        assert usd(await rollups(client, new_top)) == (4, "45.00", "0.00", "45.00", "0.00")
        assert (await rollups(client, old_top))["USD"]["lastMetricsUpdate"] > computed


async def test_a_member_change_is_rolled_up_once_per_interval(database_url: str) -> None:
    async with start_server(database_url, run_workers=True, worker_tick_seconds=TICK) as server, \
            server.new_tenant("interval") as client:
        await client.gql("mutation($s: Int!) { updateTenantSettings(input: "
                         "{metricsRefreshIntervalSeconds: $s}) { id } }", {"s": INTERVAL})
        top = await account(client, "Distributor")
        member = await account(client, "End user", top)
        await settled(client, top)
        first = (await rollups(client, top))["USD"]["lastMetricsUpdate"]
        await pay(client, member, "3.00")
        await asyncio.sleep(0.1)
        assert (await rollups(client, top))["USD"]["stale"] is True
        waited = await settled(client, top)
        rows = await rollups(client, top)
        assert usd(rows) == (2, "0.00", "3.00", "0.00", "0.00")  # the unapplied 3.00
        assert waited <= INTERVAL + TICK + 1.0, waited
        assert rows["USD"]["lastMetricsUpdate"] > first
        # rolled up just now: the next change waits for the interval (at most once per one)
        await pay(client, member, "1.00")
        again = time.monotonic()
        await settled(client, top)
        gap = time.monotonic() - again
        assert 0.5 * INTERVAL <= gap <= INTERVAL + TICK + 1.0, gap
        assert usd(await rollups(client, top)) == (2, "0.00", "4.00", "0.00", "0.00")
