"""createPayment on the partner account holding 200,000 invoices (the one
bench/invoices.py filled) against the same account not flagged, 32 clients each
(SPEC §4, issue 13 point 6). A partner account's payment appends its rows and marks
the metrics stale; the same account not flagged recomputes its metrics over every
invoice inside each payment's transaction, serialized on the account. Target: the
partner account ≥ 20x the unflagged one, 0 errors. The partner flag is restored
afterwards (the account is the refresh benchmark's too).
"""

from __future__ import annotations

from .harness import Bench, Client, CpuMeter, Load, Row, fixed_load

CLIENTS = 32
PAYMENT = """mutation($input: CreatePaymentInput!) { createPayment(input: $input) { id } }"""
PARTNER = """mutation($id: ID!, $p: Boolean!) { setPartner(accountId: $id, partner: $p) {
  id partnerAccount } }"""


async def load(bench: Bench, client: Client, account: str,
               seconds: float) -> tuple[Load, CpuMeter]:
    variables = {"input": {"accountId": account, "amount": "1.00",
                           "effectiveDate": "2026-01-15"}}
    with await bench.cpu_meter() as cpu:
        done = await fixed_load(client, [(PAYMENT, variables)], CLIENTS, seconds)
    return done, cpu


async def run(bench: Bench) -> None:
    shared = bench.shared.get("invoices")
    if shared is None:
        raise RuntimeError("the payments benchmark pays into the account the invoices "
                           "benchmark filled: run both")
    account: str = shared["account"]
    count: int = shared["count"]
    seconds = 2.0 if bench.quick else 10.0
    print(f"payments: {CLIENTS} clients, {seconds:.0f} s each, into an account with "
          f"{count:,} invoices, flagged and not", flush=True)
    client = Client(bench.server.url, shared["key"])
    try:
        await load(bench, client, account, 1.0)  # warm up
        # not flagged first: each load is fixed in time and leaves as many payments as its
        # build managed, which the unflagged payments' recomputes then sum. Run after the
        # partner load, a faster partner load made them slower.
        await client.gql(PARTNER, {"id": account, "p": False})
        try:
            plain, plain_cpu = await load(bench, client, account, seconds)
        finally:
            await client.gql(PARTNER, {"id": account, "p": True})
        partner, partner_cpu = await load(bench, client, account, seconds)
    finally:
        await client.close()
    report = bench.report
    for name, done in (("partner", partner), ("not flagged", plain)):
        report.require(done.errors == 0 and done.done > 0,
                       f"createPayment ({name}): {done.errors} errors of "
                       f"{done.done + done.errors} {done.samples[:1]}")
    ratio = partner.rate / max(plain.rate, 1e-9)
    report.add(Row(
        f"6a createPayment, partner account with {count:,} invoices, {CLIENTS} clients",
        partner.summary("payments"),
        f"the same account not flagged: {plain.rate:,.0f} payments/s", ratio,
        "0 errors; ≥ 20x not flagged", report.judge(partner.errors == 0 and ratio >= 20),
        rate=partner.rate, cpu_ms=partner_cpu.server_ms(partner.done + partner.errors)))
    report.add(Row(
        f"6b createPayment, the same account not flagged, {CLIENTS} clients",
        plain.summary("payments"), "-", None, "0 errors", plain.errors == 0,
        rate=plain.rate, cpu_ms=plain_cpu.server_ms(plain.done + plain.errors)))
    report.notes.append(f"createPayment partner: {partner_cpu.per(partner.done, 'payment')}; "
                        f"not flagged: {plain_cpu.per(plain.done, 'payment')}")
