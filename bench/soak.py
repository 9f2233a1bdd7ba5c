"""Soak: one server process under a steady mixed load; errors must stay at 0, memory flat.

    python -m bench.soak [--minutes 10] [--clients 32] [--warmup 60]

Starts `billgraph serve` (uvicorn, one worker, with its workers: refresher and job
runner) on an embedded PostgreSQL in a temporary directory (DATABASE_URL's server
when set), seeds a catalog, partner accounts (resellers) with end users and
subscriptions, then runs `--clients` concurrent clients for `--minutes`: each
loops over a mix of reads (account with metrics, pages of accounts, invoices and
subscriptions, a subscription by number) and partner-account writes (standalone
invoices, payments applied to them, debit memos, orders adding subscriptions).
Prints requests, errors (any non-200, any GraphQL error, any transport error:
must be 0), latencies, and the server's resident memory after the warm-up and at
the end (within 20 % is the target). Afterwards every account is refreshed and
the database invariants are checked. Exits 1 on any error, growth over 20 % or a
violated invariant.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ACCOUNT = """query($id: ID!) { account(id: $id) { id name partnerAccount
  metrics { balance creditBalance contractedMrr stale lastMetricsUpdate } } }"""
ACCOUNTS = """query($after: String) { accounts(first: 50, after: $after) { totalCount
  edges { cursor node { id accountNumber metrics { balance } } } pageInfo { hasNextPage } } }"""
INVOICES = """query($id: ID!) { invoices(first: 20, filter: {accountId: $id}) { totalCount
  edges { node { id invoiceNumber amount balance status lines { amount } } } } }"""
SUBSCRIPTIONS = """query($id: ID!) { subscriptions(first: 20, filter: {invoiceOwnerAccountId: $id})
  { totalCount edges { node { subscriptionNumber mrr items { product { code } mrr } } } } }"""
SUBSCRIPTION = """query($n: String!) { subscription(subscriptionNumber: $n) {
  subscriptionNumber status ownerAccount { name } invoiceOwnerAccount { name }
  billingTerms { billingFrequency pricePlan { code } } } }"""
INVOICE = """mutation($inputs: [StandaloneInvoiceInput!]!) {
  createStandaloneInvoices(inputs: $inputs) { invoice { id amount } errors { code message } } }"""
PAYMENT = """mutation($input: CreatePaymentInput!) { createPayment(input: $input) {
  id appliedAmount } }"""
DEBIT_MEMO = """mutation($a: ID!, $amount: Decimal!) { createDebitMemo(input: {accountId: $a,
  amount: $amount}) { id } }"""
ORDER = """mutation($input: CreateOrderInput!) { createOrder(input: $input) {
  subscriptions { subscription { subscriptionNumber } } } }"""


@dataclass
class World:
    resellers: list[str]
    end_users: dict[str, list[str]]  # reseller -> its end users
    subscriptions: list[str]


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def record(self, name: str, seconds: float, problem: str | None) -> None:
        self.requests[name] += 1
        self.latencies.setdefault(name, []).append(seconds)
        if problem is not None:
            self.errors[name] += 1
            if len(self.samples) < 10:
                self.samples.append(f"{name}: {problem[:300]}")


class Soak:
    def __init__(self, http: httpx.AsyncClient, tally: Tally, world: World) -> None:
        self.http, self.tally, self.world = http, tally, world

    async def call(self, name: str, query: str, variables: dict[str, Any]) -> Any:
        started = time.perf_counter()
        problem = None
        data = None
        try:
            response = await self.http.post("/graphql", json={"query": query,
                                                              "variables": variables})
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                problem = f"HTTP {response.status_code}: {body.get('errors')}"
            else:
                data = body["data"]
        except (httpx.HTTPError, ValueError) as error:
            problem = repr(error)
        self.tally.record(name, time.perf_counter() - started, problem)
        return data

    async def step(self, rnd: random.Random) -> None:
        world = self.world
        reseller = rnd.choice(world.resellers)
        roll = rnd.random()
        if roll < 0.20:
            await self.call("account", ACCOUNT, {"id": rnd.choice(
                [reseller, *world.end_users[reseller]])})
        elif roll < 0.32:
            await self.call("accounts", ACCOUNTS, {"after": None})
        elif roll < 0.44:
            await self.call("invoices", INVOICES, {"id": reseller})
        elif roll < 0.56:
            await self.call("subscriptions", SUBSCRIPTIONS, {"id": reseller})
        elif roll < 0.66:
            await self.call("subscription", SUBSCRIPTION, {"n": rnd.choice(world.subscriptions)})
        elif roll < 0.80:
            cents = rnd.randint(100, 100_000)
            made = await self.call("createStandaloneInvoices", INVOICE, {"inputs": [{
                "accountId": reseller, "invoiceDate": "2026-01-31",
                "lines": [{"description": "usage", "unitPrice": f"{cents / 100:.2f}"}]}]})
            if made and rnd.random() < 0.5:
                invoice = made["createStandaloneInvoices"][0]["invoice"]
                await self.call("createPayment", PAYMENT, {"input": {
                    "accountId": reseller, "amount": invoice["amount"],
                    "applications": [{"invoiceId": invoice["id"],
                                      "amount": invoice["amount"]}]}})
        elif roll < 0.88:
            await self.call("createPayment", PAYMENT, {"input": {
                "accountId": reseller, "amount": f"{rnd.randint(1, 500)}.00"}})
        elif roll < 0.94:
            await self.call("createDebitMemo", DEBIT_MEMO, {
                "a": reseller, "amount": f"{rnd.randint(1, 99)}.50"})
        else:
            user = rnd.choice(world.end_users[reseller])
            data = await self.call("createOrder", ORDER, order(reseller, user))
            if data and len(world.subscriptions) < 5000:
                world.subscriptions.append(
                    data["createOrder"]["subscriptions"][0]["subscription"]["subscriptionNumber"])

    async def client(self, seed: int, deadline: float) -> None:
        rnd = random.Random(seed)
        while time.monotonic() < deadline:
            await self.step(rnd)


def order(reseller: str, user: str) -> dict[str, Any]:
    return {"input": {"accountId": reseller, "orderDate": "2026-01-01", "subscriptions": [{
        "actions": [{"type": "CREATE_SUBSCRIPTION", "effectiveDate": "2026-01-01",
                     "subscriptionOwnerAccountId": user, "invoiceOwnerAccountId": reseller,
                     "billingTerms": {"pricePlan": {"code": "FLEET"},
                                      "agreementDate": "2026-01-01",
                                      "billingFrequency": "MONTHLY"},
                     "items": [{"productCode": "TRACKER", "quantity": 3},
                               {"productCode": "SUPPORT"}]}]}]}}


async def seed(http: httpx.AsyncClient, resellers: int = 8, users: int = 4) -> World:
    async def gql(query: str, variables: dict[str, Any] | None = None) -> Any:
        body = (await http.post("/graphql", json={"query": query,
                                                  "variables": variables or {}})).json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body["data"]

    for code in ("TRACKER", "SUPPORT"):
        await gql("mutation($c: String!) { createProduct(input: {code: $c, name: $c}) { id } }",
                  {"c": code})
    await gql("""mutation { createPricePlan(input: {code: "FLEET", name: "Fleet", charges: [
        {productCode: "TRACKER", chargeType: RECURRING, price: "12.00"},
        {productCode: "SUPPORT", chargeType: RECURRING, price: "60.00", pricePeriod: QUARTERLY}
      ]}) { id } }""")
    await gql("mutation { updateTenantSettings(input: {metricsRefreshIntervalSeconds: 30}) "
              "{ id } }")
    world = World([], {}, [])
    for r in range(resellers):
        reseller = (await gql('mutation($n: String!) { createAccount(input: {name: $n, '
                              'partnerAccount: true}) { id } }', {"n": f"Reseller {r}"})
                    )["createAccount"]["id"]
        world.resellers.append(reseller)
        world.end_users[reseller] = []
        for u in range(users):
            user = (await gql('mutation($n: String!) { createAccount(input: {name: $n, '
                              'partnerAccount: true}) { id } }', {"n": f"End user {r}.{u}"})
                    )["createAccount"]["id"]
            world.end_users[reseller].append(user)
            made = await gql(ORDER, order(reseller, user))
            world.subscriptions.append(
                made["createOrder"]["subscriptions"][0]["subscription"]["subscriptionNumber"])
    return world


@contextlib.contextmanager
def soak_server() -> Iterator[tuple[Any, str, str | None, uuid.UUID | None]]:
    """The server process, its key, and (with DATABASE_URL) the database and tenant."""
    from tests import processes

    if os.environ.get("DATABASE_URL"):
        from bench._database import fresh_database, new_tenant

        with fresh_database("soak") as url, processes.serve(url, workers=True) as server:
            tenant_id, key = asyncio.run(new_tenant(url, "soak"))
            yield server, key, url, tenant_id
        return
    with tempfile.TemporaryDirectory(prefix="billgraph-soak-") as tmp, \
            processes.serve(None, data_dir=Path(tmp), workers=True) as server:
        printed = server.key()
        assert printed, server.log()
        key = printed
        yield server, key, embedded_url(Path(tmp)), None


def embedded_url(data_dir: Path) -> str | None:
    """The URL of the embedded PostgreSQL `billgraph serve` started in data_dir."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from billgraph.db.bootstrap import EMBEDDED_DATABASE
        from billgraph.db.embedded import EmbeddedPostgres

    pg = EmbeddedPostgres(data_dir)
    pg.start()  # attaches to the running one (never stops it: not the owner)
    return pg.url(EMBEDDED_DATABASE)


async def soak(args: argparse.Namespace) -> int:
    from bench.fuzz import check_invariants

    mb = 1024 * 1024
    with soak_server() as (server, key, database_url, tenant_id):
        limits = httpx.Limits(max_connections=args.clients + 4,
                              max_keepalive_connections=args.clients + 4)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits,
                                     headers={"Authorization": f"Bearer {key}"}) as http:
            world = await seed(http)
            tally = Tally()
            runner = Soak(http, tally, world)
            started = time.monotonic()
            deadline = started + args.minutes * 60
            clients = [asyncio.create_task(runner.client(n, deadline))
                       for n in range(args.clients)]
            warm = min(args.warmup, args.minutes * 60 / 4)
            await asyncio.sleep(warm)
            rss_warm, requests_warm = server.rss_bytes(), sum(tally.requests.values())
            print(f"after the warm-up ({warm:.0f} s, {requests_warm} requests): "
                  f"server RSS {rss_warm / mb:.1f} MiB", flush=True)
            while time.monotonic() < deadline:
                await asyncio.sleep(min(60, max(0.1, deadline - time.monotonic())))
                print(f"  {time.monotonic() - started:5.0f} s: "
                      f"{sum(tally.requests.values())} requests, "
                      f"{sum(tally.errors.values())} errors, "
                      f"RSS {server.rss_bytes() / mb:.1f} MiB", flush=True)
            await asyncio.gather(*clients)
            elapsed = time.monotonic() - started
            rss_end = server.rss_bytes()
        problems: list[str] = []
        if database_url is not None:
            if tenant_id is None:
                from sqlalchemy import text

                from billgraph.db.engine import make_engine

                engine = make_engine(database_url, pool_size=1, max_overflow=0)
                async with engine.connect() as conn:
                    tenant_id = (await conn.execute(text(
                        "SELECT id FROM tenants WHERE name = 'default'"))).scalar_one()
                await engine.dispose()
            problems = await check_invariants(server.url, key, database_url, tenant_id)
    total = sum(tally.requests.values())
    errors = sum(tally.errors.values())
    growth = (rss_end - rss_warm) / rss_warm * 100
    every = [s for values in tally.latencies.values() for s in values]
    print(f"\n{args.clients} clients for {elapsed:.0f} s: {total} requests "
          f"({total / elapsed:.0f}/s), errors: {errors}")
    for name, count in tally.requests.most_common():
        values = sorted(tally.latencies[name])
        print(f"  {name:26} {count:7} requests  p50 {statistics.median(values) * 1000:7.1f} ms"
              f"  p99 {values[int(len(values) * 0.99) - 1] * 1000:7.1f} ms"
              f"  errors {tally.errors[name]}")
    if every:
        every.sort()
        print(f"  all: p50 {statistics.median(every) * 1000:.1f} ms, "
              f"p99 {every[int(len(every) * 0.99) - 1] * 1000:.1f} ms")
    for sample in tally.samples:
        print(f"  error: {sample}")
    print(f"server RSS: {rss_warm / mb:.1f} MiB after the warm-up, {rss_end / mb:.1f} MiB at "
          f"the end ({growth:+.1f} %; target within 20 %)")
    print(f"invariant violations afterwards: {len(problems)}")
    for problem in problems[:20]:
        print(f"    {problem}")
    return 0 if errors == 0 and abs(growth) <= 20 and not problems else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=60, help="seconds before the first "
                        "memory reading (at most a quarter of the run)")
    raise SystemExit(asyncio.run(soak(parser.parse_args())))


if __name__ == "__main__":
    main()
