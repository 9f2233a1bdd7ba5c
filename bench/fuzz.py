"""Fuzz the GraphQL API with schemathesis (GraphQL mode) against a live server.

    python -m bench.fuzz [--minutes 10] [--examples 40] [--seed N]

Starts an embedded PostgreSQL (or uses DATABASE_URL's server) with a fresh
database and a `billgraph serve` process with its workers, seeds a tenant with
documents of every kind (so generated ids and numbers sometimes name real
targets), then sends schemathesis-generated documents for every query and
mutation, positive and negative, round after round with new seeds until the time
is up; createOrder and apply/unapply of payments and credit memos also get valid
documents built from the seeded references (orders of every action type), most with
a leaf or two replaced by an edge value (random ones almost never fit together).
A failure is any 5xx, any error with extensions.code INTERNAL (or without
a code), or a request that does not answer. Afterwards, once the background work
is done, every account is refreshed and the database invariants are checked
(tests/invariants.py: metrics = recomputation, no negative open balance, applied
+ refunded <= amount, ledgers and money conserved).

The bounded run of the test suite (tests/fuzz/test_schemathesis.py) uses the
same functions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx

SEED_DATE = "2026-01-01"


# ---------------------------------------------------------------------- results

@dataclass
class Failure:
    operation: str
    kind: str  # 5xx | INTERNAL | UNCODED | NOT_JSON | TRANSPORT
    status: int | None
    query: str
    detail: str

    def __str__(self) -> str:
        return (f"[{self.kind}] {self.operation} (HTTP {self.status}): {self.detail}\n"
                f"    {self.query[:600]}")


@dataclass
class Stats:
    cases: int = 0
    operations: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)  # answered without errors
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0
    # cases built from valid documents (then mutated), by operation: sent, answered OK
    from_valid: Counter[str] = field(default_factory=Counter)
    from_valid_accepted: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        ops = len(self.operations)
        kinds = Counter(f.kind for f in self.failures)
        lines = [f"operations: {ops} ({sum(1 for o in self.operations if o.startswith('Query'))} "
                 f"queries, {sum(1 for o in self.operations if o.startswith('Mutation'))} "
                 f"mutations)",
                 f"cases: {self.cases} in {self.seconds:.0f} s "
                 f"({self.cases / max(self.seconds, 1e-9):.0f}/s), "
                 f"{sum(self.accepted.values())} answered without errors",
                 "never answered without errors: " + (", ".join(
                     sorted(o for o in self.operations if not self.accepted[o])) or "-"),
                 "of which built from valid documents, a leaf or two mutated in most: "
                 + (", ".join(f"{o} {n} ({self.from_valid_accepted[o]} without errors)"
                              for o, n in sorted(self.from_valid.items())) or "-"),
                 "error codes: " + ", ".join(f"{c} {n}" for c, n in self.codes.most_common()),
                 f"failures: {len(self.failures)}"
                 + (" (" + ", ".join(f"{k} {n}" for k, n in kinds.items()) + ")" if kinds else "")]
        seen: set[tuple[str, str, str]] = set()
        for failure in self.failures:
            key = (failure.operation, failure.kind, failure.detail[:80])
            if key not in seen:
                seen.add(key)
                lines.append(str(failure))
        return "\n".join(lines)


# ---------------------------------------------------------------------- seeding

@dataclass
class Pool:
    """Real references of the fuzzed tenant, for the generated documents to hit: all of
    them (for any ID or String), and by kind (substituted by argument name)."""

    ids: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    kinds: dict[str, list[str]] = field(default_factory=dict)
    # for documents built valid: the account of each payment, memo and invoice, and the
    # applications made (source kind, source id, target field, target id)
    owner: dict[str, str] = field(default_factory=dict)
    applied: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, kind: str, value: str, *, is_id: bool = True) -> None:
        (self.ids if is_id else self.strings).append(value)
        self.kinds.setdefault(kind, []).append(value)


def gql(http: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = http.post("/graphql", json={"query": query, "variables": variables or {}}).json()
    if body.get("errors"):
        raise RuntimeError(f"seeding failed: {body['errors']}")
    return body["data"]


def seed(http: httpx.Client) -> Pool:
    """A catalog, accounts (partner and not), subscriptions, invoices, payments, memos,
    an async order and a bill run."""
    pool = Pool(strings=["USD", "EUR", "JPY"], kinds={"currency": ["USD", "EUR", "JPY"]})
    for kind, values in (("schemeCode", ["DEFAULT", "CU", "ONCE"]), ("planCode", ["PLAN", "EPLAN"]),
                         ("productCode", ["SEAT", "SETUP"]), ("username", ["alice"])):
        for value in values:
            pool.add(kind, value, is_id=False)
    for code in ("SEAT", "SETUP"):
        gql(http, "mutation($c: String!) { createProduct(input: {code: $c, name: $c}) { id } }",
            {"c": code})
    for code, currency in (("PLAN", "USD"), ("EPLAN", "EUR")):
        plan = gql(http, """mutation($c: String!, $cur: String) { createPricePlan(input: {
            code: $c, name: $c, currency: $cur, charges: [
              {productCode: "SEAT", chargeType: RECURRING, price: "10.00"},
              {productCode: "SETUP", chargeType: ONE_TIME, price: "25.00"}]}) { id } }""",
                   {"c": code, "cur": currency})
        pool.add("plan", plan["createPricePlan"]["id"])
    gql(http, 'mutation { createBillingTermScheme(input: {code: "CU", type: NORMAL, '
              "concurrentUsageBased: true}) { id } }")
    gql(http, 'mutation { createBillingTermScheme(input: {code: "ONCE", type: ONE_TIME}) { id } }')
    pool.add("user", gql(http, 'mutation { createUser(username: "alice") { id } }')
             ["createUser"]["id"])
    accounts = []
    for n, (partner, currency) in enumerate([(False, "USD"), (True, "USD"), (False, "USD"),
                                             (True, "EUR"), (False, "JPY")]):
        data = gql(http, """mutation($n: String!, $p: Boolean, $c: String) { createAccount(
            input: {name: $n, partnerAccount: $p, currency: $c}) { id accountNumber } }""",
                   {"n": f"Seed {n}", "p": partner, "c": currency})["createAccount"]
        accounts.append(data["id"])
        pool.add("account", data["id"])
        pool.add("accountNumber", data["accountNumber"], is_id=False)
    customer, reseller = accounts[0], accounts[1]

    def create(owner: str, payer: str, **terms: Any) -> dict[str, Any]:
        return {"actions": [{
            "type": "CREATE_SUBSCRIPTION", "effectiveDate": SEED_DATE,
            "subscriptionOwnerAccountId": owner, "invoiceOwnerAccountId": payer,
            "billingTerms": {"pricePlan": {"code": "PLAN"}, "agreementDate": SEED_DATE,
                             "billingFrequency": "MONTHLY", **terms},
            "items": [{"productCode": "SEAT", "quantity": 2}, {"productCode": "SETUP"}]}]}

    order = gql(http, """mutation($input: CreateOrderInput!) { createOrder(input: $input) {
        id orderNumber subscriptions { subscription { subscriptionNumber items { id } } } } }""",
                {"input": {"accountId": customer, "orderDate": SEED_DATE, "subscriptions": [
                    create(customer, customer), create(accounts[2], reseller),
                    create(customer, customer, schemeCode="CU", concurrentUsageBasedPricing={
                        "concurrentUsage": 5, "ratePercentage": "50",
                        "concurrentUsageBillingMethod": "BASED_ON_ACTUAL_CAPACITY"})]}}
                )["createOrder"]
    pool.add("orderNumber", order["orderNumber"], is_id=False)
    for entry in order["subscriptions"]:
        pool.add("subscriptionNumber", entry["subscription"]["subscriptionNumber"], is_id=False)
        for item in entry["subscription"]["items"]:
            pool.add("item", item["id"])
    made = gql(http, """mutation($inputs: [StandaloneInvoiceInput!]!) {
        createStandaloneInvoices(inputs: $inputs) { invoice { id invoiceNumber } } }""",
               {"inputs": [{"accountId": a, "invoiceDate": "2026-01-15", "post": post,
                            "lines": [{"description": "seed", "unitPrice": "100.00"}]}
                           for a in (customer, reseller, accounts[2]) for post in (True, False)]})
    invoices = [r["invoice"] for r in made["createStandaloneInvoices"]]
    for invoice, owner in zip(invoices, [customer, customer, reseller, reseller,
                                         accounts[2], accounts[2]], strict=True):
        pool.owner[invoice["id"]] = owner
        pool.add("invoice", invoice["id"])
        pool.add("invoiceNumber", invoice["invoiceNumber"], is_id=False)
    for account in (customer, reseller):
        memo = gql(http, 'mutation($a: ID!) { createDebitMemo(input: {accountId: $a, '
                         'amount: "30.00"}) { id } }', {"a": account})["createDebitMemo"]["id"]
        invoice = next(i["id"] for i, a in zip(invoices, [customer, customer, reseller, reseller,
                                                           accounts[2], accounts[2]], strict=True)
                       if a == account)
        payment = gql(http, """mutation($a: ID!, $i: ID!) { createPayment(input: {accountId: $a,
            amount: "60.00", applications: [{invoiceId: $i, amount: "40.00"}]}) { id } }""",
                      {"a": account, "i": invoice})["createPayment"]["id"]
        credit = gql(http, """mutation($a: ID!, $d: ID!) { createCreditMemo(input: {
            accountId: $a, amount: "20.00", applications: [{debitMemoId: $d, amount: "10.00"}]})
            { id } }""", {"a": account, "d": memo})["createCreditMemo"]["id"]
        pool.add("debitMemo", memo)
        pool.add("payment", payment)
        pool.add("creditMemo", credit)
        pool.owner.update({memo: account, payment: account, credit: account})
        pool.applied += [("payment", payment, "invoiceId", invoice),
                         ("creditMemo", credit, "debitMemoId", memo)]
    run = gql(http, 'mutation { billRun(input: {targetDate: "2026-02-01"}) { id } }')
    pool.add("billRun", run["billRun"]["id"])
    job = gql(http, """mutation($input: CreateOrderInput!) { createOrderAsync(input: $input)
        { id } }""", {"input": {"accountId": customer, "orderDate": SEED_DATE,
                                "subscriptions": [create(customer, customer)]}})
    pool.add("job", job["createOrderAsync"]["id"])
    return pool


# ---------------------------------------------------------------------- generation

DECIMAL_EDGES = ["0", "-0", "0.00", "-1", "1", "0.01", "0.001", "1.005", "10.50", "  12.50 ",
                 "1e30", "1E+31", "-1e-31", "NaN", "Infinity", "-Infinity", "", "abc", "12,50",
                 "99999999999999999999999999999.99", "0x10", "1_000", "+5"]


def register_scalars(pool: Pool) -> None:
    """Strategies for ID, String and Decimal that mix the pool's real references with junk."""
    import schemathesis
    from hypothesis import strategies as st
    from schemathesis.graphql import nodes

    ids = st.sampled_from(pool.ids)
    junk_text = st.text(max_size=40)
    schemathesis.graphql.scalar("ID", st.one_of(
        ids, ids, ids, st.uuids().map(str), junk_text).map(nodes.String))
    schemathesis.graphql.scalar("String", st.one_of(
        st.sampled_from(pool.strings), st.sampled_from(pool.strings), junk_text,
        st.sampled_from(pool.ids)).map(nodes.String))
    decimals = st.decimals(min_value=-10**6, max_value=10**6, allow_nan=False,
                           allow_infinity=False, places=2).map(str)
    near = st.dates(min_value=date(2025, 6, 1), max_value=date(2027, 12, 31)).map(str)
    schemathesis.graphql.scalar("Date", st.one_of(
        near, near, near, st.dates().map(str)).map(nodes.String))
    schemathesis.graphql.scalar("Decimal", st.one_of(
        decimals.map(nodes.String), decimals.map(nodes.String),
        st.decimals(allow_nan=False, allow_infinity=False).map(str).map(nodes.String),
        st.sampled_from(DECIMAL_EDGES).map(nodes.String),
        st.integers().map(nodes.Int), st.floats(allow_nan=False, allow_infinity=False)
        .map(nodes.Float)))


# Arguments and input fields that name a document of a kind, by name.
NAMED_KINDS = {
    "accountId": "account", "subscriptionOwnerAccountId": "account",
    "invoiceOwnerAccountId": "account", "newSubscriptionOwnerAccountId": "account",
    "newInvoiceOwnerAccountId": "account", "ownerAccountId": "account", "accountIds": "account",
    "invoiceId": "invoice", "debitMemoId": "debitMemo", "paymentId": "payment",
    "creditMemoId": "creditMemo", "itemId": "item", "subscriptionNumber": "subscriptionNumber",
    "orderNumber": "orderNumber", "invoiceNumber": "invoiceNumber",
    "accountNumber": "accountNumber", "productCode": "productCode", "schemeCode": "schemeCode",
    "currency": "currency", "username": "username",
}
ROOT_ID_KINDS = {  # the `id` argument of a root field
    "account": "account", "accountSummary": "account", "updateAccount": "account",
    "invoice": "invoice", "postInvoice": "invoice", "cancelInvoice": "invoice",
    "payment": "payment", "creditMemo": "creditMemo", "debitMemo": "debitMemo", "job": "job",
    "billRun": "billRun", "pricePlan": "plan",
}
NESTED_ID_KINDS = {"pricePlan": "plan", "performedBy": "user"}  # {id} identifiers
SUBSTITUTE = 0.8


def substitute(query: str, pool: Pool, rnd: random.Random) -> str:
    """The generated document with most references replaced by real ones of the right kind
    (chosen by argument name), so that mutations reach their targets often."""
    from graphql import (
        ArgumentNode,
        FieldNode,
        ListValueNode,
        ObjectFieldNode,
        StringValueNode,
        Visitor,
        parse,
        print_ast,
        visit,
    )

    def kind_of(name: str, ancestors: Any) -> str | None:
        if name != "id":
            return NAMED_KINDS.get(name)
        fields = [a for a in ancestors if isinstance(a, FieldNode | ObjectFieldNode)]
        if not fields:
            return None
        owner = fields[-1]
        if isinstance(owner, ObjectFieldNode):
            return NESTED_ID_KINDS.get(owner.name.value)
        return ROOT_ID_KINDS.get(owner.name.value)

    def replaced(node: Any, kind: str) -> Any:
        choices = pool.kinds.get(kind)
        if not choices or rnd.random() > SUBSTITUTE:
            return None
        if isinstance(node.value, ListValueNode):
            value: Any = ListValueNode(values=tuple(
                StringValueNode(value=rnd.choice(choices)) for _ in node.value.values))
        else:
            value = StringValueNode(value=rnd.choice(choices))
        return node.__class__(name=node.name, value=value)

    class References(Visitor):
        def enter_argument(self, node: ArgumentNode, _key: Any, _parent: Any, _path: Any,
                           ancestors: Any) -> Any:
            kind = kind_of(node.name.value, ancestors)
            return replaced(node, kind) if kind else None

        def enter_object_field(self, node: ObjectFieldNode, _key: Any, _parent: Any,
                               _path: Any, ancestors: Any) -> Any:
            kind = kind_of(node.name.value, ancestors)
            return replaced(node, kind) if kind else None

    try:
        return print_ast(visit(parse(query), References()))
    except Exception:
        return query


def judge(stats: Stats, operation: str, query: str,
          response: httpx.Response) -> dict[str, Any] | None:
    """Count the answer; a failure is recorded. The data when it has no errors."""
    stats.cases += 1
    stats.operations[operation] += 1
    if response.status_code >= 500:
        stats.failures.append(Failure(operation, "5xx", response.status_code, query,
                                      response.text[:300]))
        return None
    try:
        body = response.json()
    except ValueError:
        stats.failures.append(Failure(operation, "NOT_JSON", response.status_code, query,
                                      response.text[:300]))
        return None
    errors = (body.get("errors") or []) if isinstance(body, dict) else []
    data: dict[str, Any] | None = None
    if not errors:
        stats.accepted[operation] += 1
        data = body.get("data") if isinstance(body, dict) else None
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        stats.codes[str(code)] += 1
        if code == "INTERNAL":
            stats.failures.append(Failure(operation, "INTERNAL", response.status_code, query,
                                          json.dumps(error)[:300]))
        elif code is None:
            stats.failures.append(Failure(operation, "UNCODED", response.status_code, query,
                                          json.dumps(error)[:300]))
    return data


def post(http: httpx.Client, stats: Stats, label: str, body: dict[str, Any],
         shown: str) -> httpx.Response | None:
    """Send one case; one that gets no answer is counted as a TRANSPORT failure (None)."""
    try:
        return http.post("/graphql", json=body)
    except httpx.HTTPError as error:
        stats.cases += 1
        stats.operations[label] += 1
        stats.failures.append(Failure(label, "TRANSPORT", None, shown, repr(error)))
        return None


def sender(http: httpx.Client, stats: Stats, label: str, pool: Pool | None) -> Any:
    """The test body: send one generated case (its references substituted in positive
    cases) and judge the answer."""
    def send(drawn: tuple[Any, random.Random | None]) -> None:
        case, rnd = drawn
        query = case.body if isinstance(case.body, str) else str(case.body)
        if pool is not None and rnd is not None:
            query = substitute(query, pool, rnd)
        response = post(http, stats, label, {"query": query}, query)
        if response is not None:
            judge(stats, label, query, response)

    return send


def fuzz_round(base_url: str, key: str, stats: Stats, *, examples: int, seed: int,
               pool: Pool | None = None, deadline: float | None = None) -> None:
    """One pass over every query and mutation: `examples` positive cases and a quarter
    as many negative ones each (schemathesis-generated, sent over HTTP)."""
    import hypothesis
    import schemathesis
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis import strategies as st
    from schemathesis.core.result import Err
    from schemathesis.generation import GenerationMode

    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.graphql.from_url(f"{base_url}/graphql", headers=headers, timeout=30)
    started = time.monotonic()
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            for mode, count in ((GenerationMode.POSITIVE, examples),
                                (GenerationMode.NEGATIVE, max(1, examples // 4))):
                if deadline is not None and time.monotonic() > deadline:
                    stats.seconds += time.monotonic() - started
                    return
                try:
                    cases = operation.as_strategy(generation_mode=mode)
                except Exception:
                    continue
                strategy = st.tuples(cases, st.randoms() if mode.is_positive else st.none())

                send = settings(
                    max_examples=count, deadline=None, database=None, phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                    verbosity=hypothesis.Verbosity.quiet,
                )(hypothesis.seed(seed)(hypothesis.given(drawn=strategy)(
                    sender(http, stats, operation.label, pool))))
                with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                    send()
        if pool is not None and (deadline is None or time.monotonic() < deadline):
            from_valid(http, stats, pool, random.Random(seed), count=3 * examples)
    stats.seconds += time.monotonic() - started


# ------------------------------------------------------ cases from valid documents

# Random documents almost never make a valid order (a plan, dates and action fields that
# fit together) or a valid application (a source and a target of the same account), so
# those operations also get valid documents built from the pool, most with one or two
# leaves replaced by an edge value.
ORDER = """mutation($input: CreateOrderInput!) { createOrder(input: $input) {
  orderNumber subscriptions { subscription { subscriptionNumber items { id } } } } }"""
FREQUENCIES = ["DAILY", "WEEKLY", "MONTHLY", "QUARTERLY", "BIANNUAL", "ANNUAL", "TWOYEARS",
               "CUSTOM1"]
EDGES: list[Any] = [None, "", " ", -1, 0, 1, 31, 2**31, "2026-02-30", "1900-01-01",
                    "9999-12-31", "0.001", "-5.00", "NaN", "x" * 300, "SEAT", "PLAN",
                    "00000000-0000-0000-0000-000000000000", True, [], {}]
MUTATE = 0.6


def valid_order(pool: Pool, rnd: random.Random) -> dict[str, Any]:
    """A createOrder input that should succeed (or fail only on the subscription's state)."""
    def day(low: int = 0, high: int = 400) -> str:
        return str(date.fromisoformat(SEED_DATE) + timedelta(days=rnd.randint(low, high)))

    accounts = pool.kinds["account"][:3]  # the USD accounts (plan PLAN is in USD)
    account = rnd.choice(accounts)
    when = day(30)
    kind = rnd.choice(["CREATE_SUBSCRIPTION", "CREATE_SUBSCRIPTION", "ADD_PRODUCT",
                       "UPDATE_PRODUCT", "REMOVE_PRODUCT", "SUSPEND", "RESUME",
                       "CANCEL_SUBSCRIPTION", "OWNER_TRANSFER", "RENEW_SUBSCRIPTION"])
    action: dict[str, Any] = {"type": kind, "effectiveDate": when}
    entry: dict[str, Any] = {"actions": [action]}
    if kind == "CREATE_SUBSCRIPTION":
        terms: dict[str, Any] = {"pricePlan": {"code": "PLAN"}, "agreementDate": when,
                                 "billingFrequency": rnd.choice(FREQUENCIES)}
        if rnd.random() < 0.3:
            terms["billingCycleDay"] = rnd.randint(1, 31)
        if rnd.random() < 0.3:
            terms["bindingInformation"] = {"bindingPeriod": rnd.choice(["MONTH", "ANNUAL"])}
        action.update(subscriptionOwnerAccountId=rnd.choice(accounts),
                      invoiceOwnerAccountId=rnd.choice(accounts), billingTerms=terms,
                      items=[{"productCode": "SEAT", "quantity": rnd.randint(1, 50)},
                             {"productCode": "SETUP"}][:rnd.randint(1, 2)])
    else:
        entry["subscriptionNumber"] = rnd.choice(pool.kinds["subscriptionNumber"])
        if kind == "ADD_PRODUCT":
            action["item"] = {"productCode": rnd.choice(["SEAT", "SETUP"]),
                              "quantity": rnd.randint(1, 9)}
        elif kind == "UPDATE_PRODUCT":
            action["itemId"] = rnd.choice(pool.kinds["item"])
            action["item"] = {"productCode": "SEAT", "quantity": rnd.randint(1, 99)}
        elif kind == "REMOVE_PRODUCT":
            action["itemId"] = rnd.choice(pool.kinds["item"])
        elif kind == "CANCEL_SUBSCRIPTION":
            action["overrideBinding"] = rnd.random() < 0.5
        elif kind == "OWNER_TRANSFER":
            action["newSubscriptionOwnerAccountId"] = rnd.choice(accounts)
            action["newInvoiceOwnerAccountId"] = rnd.choice(accounts)
    return {"accountId": account, "orderDate": when, "subscriptions": [entry]}


def mutate(value: Any, rnd: random.Random) -> Any:
    """`value` with one leaf (a scalar or list element anywhere) replaced by an edge value."""
    leaves: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            leaves.append((node, key))
            if isinstance(child, dict | list):
                walk(child)

    walk(value)
    if leaves:
        node, key = rnd.choice(leaves)
        if isinstance(node, dict) and rnd.random() < 0.2:
            del node[key]  # a field left out
        else:
            node[key] = rnd.choice(EDGES)
    return value


APPLY = {
    "payment": ("applyPayment", "unapplyPayment", "paymentId"),
    "creditMemo": ("applyCreditMemo", "unapplyCreditMemo", "creditMemoId"),
}


def valid_application(pool: Pool, rnd: random.Random) -> tuple[str, str, dict[str, Any]]:
    """An apply or unapply of a payment or credit memo that should succeed unless the
    source or target has too little left: (root field, document, variables)."""
    source_kind = rnd.choice(list(APPLY))
    apply_field, unapply_field, id_arg = APPLY[source_kind]
    amount = f"{rnd.randint(1, 500) / 100:.2f}"
    done = [a for a in pool.applied if a[0] == source_kind]
    if done and rnd.random() < 0.4:
        _, source, target_field, target = rnd.choice(done)
        root = unapply_field
    else:
        source = rnd.choice(pool.kinds[source_kind])
        targets = [("invoiceId", i) for i in pool.kinds["invoice"]
                   if pool.owner.get(i) == pool.owner.get(source)]
        targets += [("debitMemoId", d) for d in pool.kinds["debitMemo"]
                    if pool.owner.get(d) == pool.owner.get(source)]
        target_field, target = rnd.choice(targets)
        root = apply_field
    query = (f"mutation($id: ID!, $a: [ApplicationInput!]!) {{ {root}({id_arg}: $id, "
             "applications: $a) { id } }")
    return root, query, {"id": source, "a": [{target_field: target, "amount": amount}]}


def from_valid(http: httpx.Client, stats: Stats, pool: Pool, rnd: random.Random, *,
               count: int) -> None:
    """`count` cases built from valid documents: createOrder (two in three) and applying
    or unapplying payments and credit memos; most get a leaf or two mutated. What they
    create joins the pool."""
    variables: dict[str, Any]
    for _ in range(count):
        if rnd.random() < 2 / 3:
            root, query, variables = "createOrder", ORDER, {"input": valid_order(pool, rnd)}
        else:
            root, query, variables = valid_application(pool, rnd)
        for _ in range(rnd.randint(1, 2) if rnd.random() < MUTATE else 0):
            variables = mutate(variables, rnd)
        label = f"Mutation.{root}"
        body = {"query": query, "variables": variables}
        shown = json.dumps(body)
        response = post(http, stats, label, body, shown)
        if response is None:
            continue
        stats.from_valid[label] += 1
        answer = judge(stats, label, shown, response)
        if answer is None:
            continue
        stats.from_valid_accepted[label] += 1
        if root == "createOrder":
            remember_order(pool, answer["createOrder"])
        elif root.startswith("apply"):  # accepted: the source and target are real
            [application] = variables["a"]
            for target_field, target in application.items():
                if target_field != "amount":
                    kind = "payment" if root == "applyPayment" else "creditMemo"
                    pool.applied.append((kind, str(variables["id"]), target_field,
                                         str(target)))


def remember_order(pool: Pool, order: dict[str, Any]) -> None:
    for made in order["subscriptions"]:
        subscription = made["subscription"]
        if subscription["subscriptionNumber"] not in pool.kinds["subscriptionNumber"]:
            pool.add("subscriptionNumber", subscription["subscriptionNumber"], is_id=False)
        for item in subscription["items"]:
            if item["id"] not in pool.kinds["item"]:
                pool.add("item", item["id"])


# ---------------------------------------------------------------------- afterwards

async def wait_until_quiet(database_url: str, timeout: float = 180) -> list[str]:
    """Wait for the server's background work (jobs, bill runs) to finish; what is left."""
    from sqlalchemy import text

    from billgraph.db.engine import make_engine

    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        deadline = time.monotonic() + timeout
        while True:
            async with engine.connect() as conn:
                busy = (await conn.execute(text(
                    "SELECT kind || ' ' || status FROM jobs WHERE status IN "
                    "('PENDING', 'RUNNING')"))).scalars().all()
            if not busy or time.monotonic() > deadline:
                return list(busy)
            await asyncio.sleep(0.5)
    finally:
        await engine.dispose()


async def background_internal_errors(database_url: str, tenant_id: uuid.UUID | str) -> list[str]:
    """Jobs and bill runs that failed with INTERNAL (a bug, as in a response)."""
    from sqlalchemy import text

    from billgraph.db.engine import make_engine

    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT 'job ' || kind || ' ' || id || ': ' || errors::text FROM jobs "
                "WHERE tenant_id = :t AND errors @> '[{\"code\": \"INTERNAL\"}]' "
                "UNION ALL SELECT 'bill run ' || id || ' (target ' || target_date || '): ' "
                "|| errors::text FROM bill_runs "
                "WHERE tenant_id = :t AND errors @> '[{\"code\": \"INTERNAL\"}]'"),
                {"t": tenant_id})).scalars().all()
    finally:
        await engine.dispose()
    return list(rows)


async def row_counts(database_url: str, tenant_id: uuid.UUID | str) -> dict[str, int]:
    from sqlalchemy import text

    from billgraph.db.engine import make_engine

    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    counts = {}
    try:
        async with engine.connect() as conn:
            for table in ("accounts", "subscriptions", "subscription_items", "orders",
                          "invoices", "invoice_lines", "payments", "credit_memos",
                          "debit_memos", "applications", "refunds", "bill_runs", "jobs"):
                counts[table] = (await conn.execute(text(
                    f"SELECT count(*) FROM {table} WHERE tenant_id = :t"),
                    {"t": tenant_id})).scalar_one()
    finally:
        await engine.dispose()
    return counts


async def check_invariants(base_url: str, key: str, database_url: str,
                           tenant_id: uuid.UUID | str) -> list[str]:
    """Refresh every account through the API, then check the database invariants."""
    from sqlalchemy import text
    from tests.invariants import violations

    from billgraph.db.engine import make_engine

    problems: list[str] = []
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            accounts = (await conn.execute(text("SELECT id FROM accounts WHERE tenant_id = :t"),
                                           {"t": tenant_id})).scalars().all()
        async with httpx.AsyncClient(base_url=base_url, timeout=60,
                                     headers={"Authorization": f"Bearer {key}"}) as http:
            for account in accounts:
                body = (await http.post("/graphql", json={
                    "query": "mutation($id: ID!) { refreshMetrics(accountId: $id) { balance } }",
                    "variables": {"id": str(account)}})).json()
                if body.get("errors"):
                    problems.append(f"refreshMetrics({account}): {body['errors']}")
        async with engine.connect() as conn:
            problems += await violations(conn, tenant_id, include_stale=True)
    finally:
        await engine.dispose()
    return problems


def server_tracebacks(log: str) -> list[str]:
    """The distinct tracebacks of a server log (by their last lines)."""
    found: dict[str, str] = {}
    lines = log.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = n + 1
            while end < len(lines) and (lines[end].startswith((" ", "\t"))
                                        or not lines[end].strip()):
                end += 1
            block = "\n".join(lines[max(0, n - 1):end + 1])
            found.setdefault(lines[min(end, len(lines) - 1)], block)
    return list(found.values())


@contextlib.contextmanager
def fuzzed_server(database_url: str) -> Iterator[Any]:
    from tests import processes

    with processes.serve(database_url, workers=True,
                         settings={"worker_tick_seconds": 0.2}) as server:
        yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--examples", type=int, default=40,
                        help="positive cases per operation and round")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    from bench._database import fresh_database, new_tenant

    with fresh_database("fuzz") as url, fuzzed_server(url) as server:
        tenant_id, key = asyncio.run(new_tenant(url, "fuzz"))
        with httpx.Client(base_url=server.url, timeout=60,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            pool = seed(http)
        register_scalars(pool)
        stats = Stats()
        deadline = time.monotonic() + args.minutes * 60
        rounds = 0
        base_seed = args.seed if args.seed is not None else int(time.time())
        while time.monotonic() < deadline:
            fuzz_round(server.url, key, stats, examples=args.examples, seed=base_seed + rounds,
                       pool=pool, deadline=deadline)
            rounds += 1
            print(f"round {rounds}: {stats.cases} cases, {len(stats.failures)} failures",
                  flush=True)
        left = asyncio.run(wait_until_quiet(url))
        background = asyncio.run(background_internal_errors(url, tenant_id))
        problems = asyncio.run(check_invariants(server.url, key, url, tenant_id))
        print(f"\nrounds: {rounds} (seeds {base_seed}..{base_seed + rounds - 1})")
        print(stats.summary())
        print(f"background work still running afterwards: {left or 'none'}")
        print("rows: " + ", ".join(f"{t} {n}" for t, n in
                                   asyncio.run(row_counts(url, tenant_id)).items()))
        print(f"background jobs and bill runs failed with INTERNAL: {len(background)}")
        for line in background[:20]:
            print(f"    {line}")
        print(f"invariant violations: {len(problems)}")
        for problem in problems[:50]:
            print(f"    {problem}")
        tracebacks = server_tracebacks(server.log())
        print(f"distinct tracebacks in the server log: {len(tracebacks)}")
        for trace in tracebacks[:10]:
            print(trace)
    raise SystemExit(1 if stats.failures or problems or left or background else 0)


if __name__ == "__main__":
    main()
