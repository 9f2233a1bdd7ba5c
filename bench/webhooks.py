"""Webhooks on the hot write path: 64 concurrent createOrder on one partner account
(reseller + end user), for a tenant with an endpoint subscribed to every event type
versus a tenant with no endpoint, in the same run, alternating A B A B so that noise
from the shared machine falls on both. The endpoint is a receiver in this process on
127.0.0.1 answering 200; the server's delivery worker sends while the load runs.
Afterwards every event (ORDER_CREATED + SUBSCRIPTION_CREATED per order) must arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Any

import uvicorn

from billgraph.services.webhooks import EVENT_TYPES

from .harness import Bench, Client, Load, Row, closed_loop, create_account, fleet_catalog
from .orders import CREATE_ORDER, order_input

CLIENTS = 64
ENDPOINT = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } } }"""


class Sink:
    """A receiver that answers 200 and counts distinct webhook-ids."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        for name, value in scope["headers"]:
            if name == b"webhook-id":
                self.ids.add(value.decode())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@contextlib.asynccontextmanager
async def sink() -> Any:
    app = Sink()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=app.port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event)
        await asyncio.sleep(0.01)
    try:
        yield app
    finally:
        server.should_exit = True
        await task


async def load(client: Client, pair: tuple[str, str], seconds: float) -> Load:
    payer, owner = pair

    async def request(c: int, n: int) -> str | None:
        return await client.attempt(CREATE_ORDER, order_input(payer, owner, payer), lane=c)

    return await closed_loop(CLIENTS, seconds, None, request)


async def run(bench: Bench) -> None:
    seconds = 2.0 if bench.quick else 8.0
    print(f"webhooks: {CLIENTS} clients createOrder, {seconds:.0f} s x 2 each, with an "
          "endpoint for everything vs none", flush=True)
    async with sink() as receiver:
        setups: dict[str, tuple[Client, tuple[str, str]]] = {}
        for name in ("none", "hooked"):
            _, client = await bench.tenant(f"webhooks-{name}")
            await fleet_catalog(client)
            setups[name] = (client, (await create_account(client, "Reseller", True),
                                     await create_account(client, "End user", True)))
        hooked, _ = setups["hooked"]
        await hooked.gql(ENDPOINT, {"input": {"url": f"http://127.0.0.1:{receiver.port}/hook",
                                              "eventTypes": list(EVENT_TYPES)}})
        try:
            for name in setups:  # warm up
                await load(setups[name][0], setups[name][1], 0.5)
            totals = {name: Load() for name in setups}
            for _ in range(2):
                for name, (client, pair) in setups.items():
                    part = await load(client, pair, seconds)
                    total = totals[name]
                    total.done += part.done
                    total.errors += part.errors
                    total.elapsed += part.elapsed
                    total.latencies += part.latencies
                    total.samples += part.samples
            # every event the hooked tenant's orders appended (warm-up included)
            expected = int((await bench.sql("SELECT count(*) FROM webhook_events"))[0][0])
            warm = len(receiver.ids)
            started = time.perf_counter()
            deadline = started + 120
            while len(receiver.ids) < expected and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
            drained = time.perf_counter() - started
        finally:
            for client, _ in setups.values():
                await client.close()
    none, with_hooks = totals["none"], totals["hooked"]
    ratio = with_hooks.rate / none.rate if none.rate else 0.0
    report = bench.report
    for name, total in totals.items():
        report.require(total.errors == 0 and total.done > 0,
                       f"webhooks createOrder ({name}): {total.errors} errors {total.samples[:1]}")
    report.require(len(receiver.ids) >= expected,
                   f"webhooks: {len(receiver.ids)} of {expected} events arrived")
    report.notes.append(f"webhooks: {len(receiver.ids)} events received ({warm} when the load "
                        f"ended), all within {drained:.1f} s after it")
    report.add(Row(f"18 createOrder x{CLIENTS}, partner account, endpoint for every event",
                   with_hooks.summary("orders"),
                   f"no endpoint, same run: {none.rate:,.0f} orders/s", ratio,
                   "0 errors; ≥ 0.9x no endpoint",
                   report.judge(with_hooks.errors == 0 and ratio >= 0.9)))
