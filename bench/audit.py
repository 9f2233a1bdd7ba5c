"""What the audit trail costs (SPEC §16): createOrder on one partner account, audit on vs off.

Two servers on the bench database — the bench's own (audit on, the default) and a second
one started with BILLGRAPH_AUDIT=false — take turns (on, off, on, off: the machine's
noise hits both alike), 32 clients ordering for the same partner reseller and end
user. The audit event is one INSERT in each order's own transaction; the target is
audit on ≥ 0.9 x audit off, with 0 errors, and exactly one event per order.
"""

from __future__ import annotations

from .harness import Bench, Client, Load, Row, Server, create_account, fleet_catalog
from .orders import api_load

ROUNDS = 4


async def run(bench: Bench) -> None:
    seconds = 1.0 if bench.quick else 5.0
    print(f"audit: createOrder on a partner account, audit on vs off, {ROUNDS} x {seconds:.0f} s "
          "each", flush=True)
    tenant_id, on = await bench.tenant("audit")
    unaudited = Server(bench.database_url, audit="false")
    await unaudited.start()
    off = Client(unaudited.url, on.key)
    try:
        await fleet_catalog(on)
        payer = await create_account(on, "Reseller A", True)
        owner = await create_account(on, "End user A", True)
        pairs = [(owner, payer)]
        await api_load(bench, on, pairs, 1.0)  # warm up both
        await api_load(bench, off, pairs, 1.0)
        # Statistics for the tables the warm-up filled. On a fresh database (`--only
        # audit`) the first orders ran against empty tables, and each connection keeps
        # the generic plans made then: its foreign-key check on subscriptions scanned the
        # tenant's rows by another index, slower with every order (audit on 0.45-0.65 x
        # off, only because the audited server's connections planned first). ANALYZE
        # invalidates those plans, as autovacuum's would a minute later.
        await bench.sql("ANALYZE")
        before = (await bench.sql("SELECT count(*) FROM audit_events WHERE tenant_id = $1 "
                                  "AND operation = 'createOrder'", tenant_id))[0][0]
        loads: dict[str, list[Load]] = {"on": [], "off": []}
        for _ in range(ROUNDS):
            loads["on"].append((await api_load(bench, on, pairs, seconds))[0])
            loads["off"].append((await api_load(bench, off, pairs, seconds))[0])
        after = (await bench.sql("SELECT count(*) FROM audit_events WHERE tenant_id = $1 "
                                 "AND operation = 'createOrder'", tenant_id))[0][0]
    finally:
        await on.close()
        await off.close()
        unaudited.stop()
    rate = {k: sum(x.done for x in v) / sum(x.elapsed for x in v) for k, v in loads.items()}
    errors = sum(x.errors for v in loads.values() for x in v)
    audited_orders = sum(x.done for x in loads["on"])
    report = bench.report
    report.require(errors == 0, f"audit bench: {errors} errors")
    report.require(after - before == audited_orders,
                   f"audit bench: {after - before} events for {audited_orders} audited orders")
    ratio = rate["on"] / max(rate["off"], 1e-9)
    report.add(Row("8 createOrder, one partner account, audit on", f"{rate['on']:,.0f} orders/s, "
                   f"{errors} errors", f"audit off: {rate['off']:,.0f} orders/s", ratio,
                   "0 errors; on ≥ 0.9x off", report.judge(errors == 0 and ratio >= 0.9)))
