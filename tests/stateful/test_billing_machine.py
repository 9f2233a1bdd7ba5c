"""A hypothesis state machine over the billing services, with the invariants after every step.

Random sequences of: accounts (partner or not) and partner toggles; orders creating
subscriptions, adding, updating and removing products, transferring owners and
cancelling; bill runs (the bill-run service called directly, in this process);
standalone invoices, posting and cancelling; payments, credit and debit memos;
applying, unapplying and refunding; forced refreshes and refresher ticks.

After every step (tests/invariants.py): the stored metrics of every account that is
not waiting for its refresh equal a fresh recomputation, no open balance is negative,
applied + refunded <= amount, the ledgers agree with the running totals, money is
conserved per account; and a non-partner account is never stale. A write the
service refuses must refuse with a coded error (BillgraphError), never anything else;
the writes the machine knows to be valid must succeed.

One database for the whole test, a fresh tenant per example (cheap).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from billgraph.config import Settings
from billgraph.db.engine import asyncpg_dsn, make_engine
from billgraph.db.tx import Writer
from billgraph.events import EventHub
from billgraph.services import (
    accounts,
    applications,
    catalog,
    invoices,
    metrics,
    orders,
    payments,
    tenants,
)
from billgraph.services import standalone_invoices as standalone
from billgraph.services.applications import CREDIT_MEMO, PAYMENT, ApplicationInput
from billgraph.services.billing import bill_runs
from billgraph.services.billing_terms import BillingTermsInput, PlanRef
from billgraph.services.errors import BillgraphError
from billgraph.state import AppState
from billgraph.workers.refresher import refresh_due
from tests.invariants import violations

T = TypeVar("T")
EXAMPLES = int(os.environ.get("BILLGRAPH_STATEFUL_EXAMPLES", "60"))
STEPS = int(os.environ.get("BILLGRAPH_STATEFUL_STEPS", "30"))
START = date(2026, 1, 1)
_names = itertools.count()

amounts = st.integers(min_value=1, max_value=50_000).map(lambda cents: Decimal(cents) / 100)


@dataclass
class Runner:
    """An event loop of the test's own, and what the services need, on one database."""

    loop: asyncio.AbstractEventLoop
    state: AppState

    def __call__(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)


@pytest.fixture
def runner(pg_cluster: Any) -> Iterator[Runner]:
    name = f"billgraph_stateful_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(asyncpg_dsn(pg_cluster.admin_url))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    loop = asyncio.new_event_loop()
    shared = pg_cluster.shared_database  # on Citus: the one database (a tenant per example)
    if shared is None:
        loop.run_until_complete(admin(f'CREATE DATABASE "{name}" '
                                      f'TEMPLATE "{pg_cluster.template}"'))
    url = pg_cluster.url(shared or name)
    engine = make_engine(url, pool_size=4, max_overflow=2)
    state = AppState(settings=Settings(database_url=url, run_workers=False), engine=engine,
                     events=EventHub())
    try:
        yield Runner(loop, state)
    finally:
        loop.run_until_complete(engine.dispose())
        if shared is None:
            loop.run_until_complete(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        loop.close()


class BillingMachine(RuleBasedStateMachine):
    run: Runner  # set by the test
    # shared by every example of a run, reported at its end
    refusals: ClassVar[Counter[str]] = Counter()
    steps: ClassVar[Counter[str]] = Counter()
    samples: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.tenant_id = self.run(self._tenant())
        self.accounts: list[uuid.UUID] = []
        self.subscriptions: list[str] = []
        self.today = START

    async def _tenant(self) -> uuid.UUID:
        async with self.run.state.engine.begin() as conn:
            tenant_id = await tenants.create_tenant(conn, f"machine-{next(_names)}-"
                                                          f"{uuid.uuid4().hex[:6]}")
        self.tenant_id = tenant_id

        async def work(writer: Writer) -> None:
            for code in ("SEAT", "SUPPORT", "SETUP"):
                await catalog.create_product(writer, catalog.CreateProduct(code, code.title()))
            await catalog.create_price_plan(writer, catalog.CreatePricePlan("PLAN", "Plan", [
                catalog.ChargeInput("SEAT", "RECURRING", Decimal("10.00")),
                catalog.ChargeInput("SUPPORT", "RECURRING", Decimal("45.00"), "QUARTERLY"),
                catalog.ChargeInput("SETUP", "ONE_TIME", Decimal("25.00"))]))

        await self.run.state.write(tenant_id, work)
        return tenant_id

    # ------------------------------------------------------------------ plumbing

    def write(self, name: str, work: Callable[[Writer], Awaitable[T]], *,
              may_refuse: bool = False) -> T | None:
        """Run a write; a refusal must be coded, and only where the step allows one."""
        self.steps[name] += 1
        try:
            return self.run(self.run.state.write(self.tenant_id, work))
        except BillgraphError as refused:
            if not may_refuse:
                raise
            self.refusals[f"{name}: {refused.code.value}"] += 1
            self.samples.setdefault(name, refused.message)
            return None

    def rows(self, query: str, **params: Any) -> list[Any]:
        async def read() -> list[Any]:
            async with self.run.state.read() as conn:
                result = await conn.execute(text(query), {"t": self.tenant_id, **params})
                return list(result.mappings())

        return self.run(read())

    def order(self, name: str, account: uuid.UUID, entry: orders.SubscriptionInput,
              day: date, *, may_refuse: bool = True) -> None:
        data = orders.OrderInput(account_id=str(account), order_date=day, subscriptions=[entry])
        self.write(name, lambda w: orders.create_order(w, data), may_refuse=may_refuse)

    # ------------------------------------------------------------------ accounts

    @initialize(partner=st.booleans())
    def first_accounts(self, partner: bool) -> None:
        self.create_account(False)
        self.create_account(partner)

    @rule(partner=st.booleans())
    def create_account(self, partner: bool) -> None:
        data = accounts.CreateAccount(name=f"Account {len(self.accounts)}",
                                      partner_account=partner)
        row = self.write("createAccount", lambda w: accounts.create_account(w, data))
        assert row is not None
        self.accounts.append(row["id"])

    @rule(data=st.data())
    def toggle_partner(self, data: st.DataObject) -> None:
        account = data.draw(st.sampled_from(self.accounts))
        [row] = self.rows("SELECT partner_account FROM accounts WHERE id = :a", a=account)
        self.write("setPartner",
                   lambda w: accounts.set_partner(w, account, not row["partner_account"]))

    @rule(data=st.data())
    def refresh(self, data: st.DataObject) -> None:
        account = data.draw(st.sampled_from(self.accounts))

        async def work(writer: Writer) -> None:
            await metrics.lock_and_recompute(writer.conn, writer.tenant_id, [account])

        self.write("refreshMetrics", work)

    @rule()
    def refresher_tick(self) -> None:
        """The refresher's pass, once the tenant's interval has passed for every account."""
        self.steps["refresher"] += 1
        self.rows("UPDATE account_metrics SET last_metrics_update = now() - interval '2 hours' "
                  "WHERE tenant_id = :t RETURNING account_id")
        self.run(refresh_due(self.run.state))

    @rule(days=st.integers(min_value=1, max_value=45))
    def time_passes(self, days: int) -> None:
        self.steps["timePasses"] += 1
        self.today += timedelta(days=days)

    # ------------------------------------------------------------------ orders

    @rule(data=st.data(), quantity=st.integers(min_value=1, max_value=5),
          frequency=st.sampled_from(["MONTHLY", "QUARTERLY", "ANNUAL"]),
          support=st.booleans(), setup=st.booleans(), offset=st.integers(0, 20))
    def create_subscription(self, data: st.DataObject, quantity: int, frequency: str,
                            support: bool, setup: bool, offset: int) -> None:
        owner = data.draw(st.sampled_from(self.accounts))
        payer = data.draw(st.sampled_from(self.accounts))
        start = self.today + timedelta(days=offset)
        items = [orders.ItemInput("SEAT", quantity)]
        if support:
            items.append(orders.ItemInput("SUPPORT"))
        if setup:
            items.append(orders.ItemInput("SETUP"))
        entry = orders.SubscriptionInput(actions=[orders.ActionInput(
            type="CREATE_SUBSCRIPTION", effective_date=start,
            subscription_owner_account_id=str(owner), invoice_owner_account_id=str(payer),
            billing_terms=BillingTermsInput(price_plan=PlanRef(code="PLAN"),
                                            agreement_date=start, billing_frequency=frequency),
            items=items)])
        before = len(self.rows("SELECT id FROM subscriptions WHERE tenant_id = :t"))
        self.order("createSubscription", owner, entry, start, may_refuse=False)
        [row] = self.rows("SELECT subscription_number FROM subscriptions WHERE tenant_id = :t "
                          "ORDER BY id DESC LIMIT 1")
        assert len(self.rows("SELECT id FROM subscriptions WHERE tenant_id = :t")) == before + 1
        self.subscriptions.append(row["subscription_number"])

    def _subscription(self, data: st.DataObject) -> Any:
        number = data.draw(st.sampled_from(self.subscriptions))
        [sub] = self.rows("SELECT * FROM subscriptions WHERE tenant_id = :t AND "
                          "subscription_number = :n", n=number)
        return sub

    def _effective(self, sub: Any, offset: int) -> date:
        start: date = max(self.today, sub["start_date"])
        return start + timedelta(days=offset)

    @precondition(lambda self: self.subscriptions)
    @rule(data=st.data(), product=st.sampled_from(["SEAT", "SUPPORT", "SETUP"]),
          quantity=st.integers(1, 4), offset=st.integers(0, 40))
    def add_product(self, data: st.DataObject, product: str, quantity: int, offset: int) -> None:
        sub = self._subscription(data)
        entry = orders.SubscriptionInput(subscription_number=sub["subscription_number"], actions=[
            orders.ActionInput(type="ADD_PRODUCT", effective_date=self._effective(sub, offset),
                               item=orders.ItemInput(product, quantity))])
        self.order("addProduct", sub["owner_account_id"], entry, self.today)

    def _open_item(self, data: st.DataObject, sub: Any) -> Any | None:
        items = self.rows("SELECT i.id, p.code FROM subscription_items i JOIN products p "
                          "ON p.tenant_id = i.tenant_id AND p.id = i.product_id "
                          "WHERE i.subscription_id = :s AND i.end_date IS NULL "
                          "ORDER BY i.id", s=sub["id"])
        return data.draw(st.sampled_from(items)) if items else None

    @precondition(lambda self: self.subscriptions)
    @rule(data=st.data(), offset=st.integers(0, 40))
    def remove_product(self, data: st.DataObject, offset: int) -> None:
        sub = self._subscription(data)
        item = self._open_item(data, sub)
        if item is None:
            return
        entry = orders.SubscriptionInput(subscription_number=sub["subscription_number"], actions=[
            orders.ActionInput(type="REMOVE_PRODUCT", effective_date=self._effective(sub, offset),
                               item_id=str(item["id"]))])
        self.order("removeProduct", sub["owner_account_id"], entry, self.today)

    @precondition(lambda self: self.subscriptions)
    @rule(data=st.data(), quantity=st.integers(1, 9), offset=st.integers(0, 40))
    def update_product(self, data: st.DataObject, quantity: int, offset: int) -> None:
        sub = self._subscription(data)
        item = self._open_item(data, sub)
        if item is None:
            return
        entry = orders.SubscriptionInput(subscription_number=sub["subscription_number"], actions=[
            orders.ActionInput(type="UPDATE_PRODUCT", effective_date=self._effective(sub, offset),
                               item_id=str(item["id"]),
                               item=orders.ItemInput(item["code"], quantity))])
        self.order("updateProduct", sub["owner_account_id"], entry, self.today)

    @precondition(lambda self: self.subscriptions)
    @rule(data=st.data(), offset=st.integers(0, 40), both=st.booleans())
    def transfer_owner(self, data: st.DataObject, offset: int, both: bool) -> None:
        sub = self._subscription(data)
        owner = data.draw(st.sampled_from(self.accounts))
        payer = data.draw(st.sampled_from(self.accounts)) if both else None
        entry = orders.SubscriptionInput(subscription_number=sub["subscription_number"], actions=[
            orders.ActionInput(type="OWNER_TRANSFER", effective_date=self._effective(sub, offset),
                               new_subscription_owner_account_id=str(owner),
                               new_invoice_owner_account_id=str(payer) if payer else None)])
        self.order("ownerTransfer", sub["owner_account_id"], entry, self.today)

    @precondition(lambda self: self.subscriptions)
    @rule(data=st.data(), offset=st.integers(0, 60))
    def cancel_subscription(self, data: st.DataObject, offset: int) -> None:
        sub = self._subscription(data)
        entry = orders.SubscriptionInput(subscription_number=sub["subscription_number"], actions=[
            orders.ActionInput(type="CANCEL_SUBSCRIPTION",
                               effective_date=self._effective(sub, offset))])
        self.order("cancelSubscription", sub["owner_account_id"], entry, self.today)

    # ------------------------------------------------------------------ bill runs, invoices

    @precondition(lambda self: self.subscriptions)
    @rule(data=st.data(), ahead=st.integers(0, 70), only=st.booleans(), post=st.booleans())
    def bill_run(self, data: st.DataObject, ahead: int, only: bool, post: bool) -> None:
        target = self.today + timedelta(days=ahead)
        chosen = (data.draw(st.lists(st.sampled_from(self.accounts), min_size=1, max_size=3))
                  if only else None)
        run_input = bill_runs.BillRunInput(target_date=target, account_ids=chosen,
                                           auto_post=post)
        run_id = self.write("billRun", lambda w: bill_runs.create_bill_run(w, run_input))
        assert run_id is not None
        state = self.run.state
        self.run(bill_runs.run_bill_run(state, state.events.publish, self.tenant_id, run_id))
        [run] = self.rows("SELECT status, errors FROM bill_runs WHERE id = :r", r=run_id)
        assert run["status"] == "COMPLETED", run
        assert not [e for e in run["errors"] if e["code"] == "INTERNAL"], run

    @rule(data=st.data(), amounts=st.lists(amounts, min_size=1, max_size=3), post=st.booleans())
    def standalone_invoice(self, data: st.DataObject, amounts: list[Decimal], post: bool) -> None:
        account = data.draw(st.sampled_from(self.accounts))
        item = standalone.StandaloneInvoice(
            account_id=str(account), invoice_date=self.today, post=post,
            lines=[standalone.LineInput(description=f"line {n}", unit_price=a)
                   for n, a in enumerate(amounts)])
        [result] = self.write("createStandaloneInvoices",
                              lambda w: standalone.create_standalone_invoices(w, [item])) or [{}]
        assert "id" in result, result

    def _invoice(self, data: st.DataObject, where: str) -> Any | None:
        found = self.rows(f"SELECT * FROM invoices WHERE tenant_id = :t AND {where} ORDER BY id")
        return data.draw(st.sampled_from(found)) if found else None

    @rule(data=st.data())
    def post_invoice(self, data: st.DataObject) -> None:
        invoice = self._invoice(data, "status = 'DRAFT'")
        if invoice is not None:
            self.write("postInvoice", lambda w: invoices.post_invoice(w, invoice["id"]))

    @rule(data=st.data())
    def cancel_invoice(self, data: st.DataObject) -> None:
        invoice = self._invoice(data, "status <> 'CANCELED'")
        if invoice is None:
            return
        applied = self.rows("SELECT coalesce(sum(amount), 0) AS s FROM applications "
                            "WHERE invoice_id = :i", i=invoice["id"])[0]["s"]
        # cancelling is refused exactly while something is applied to the invoice
        self.write("cancelInvoice", lambda w: invoices.cancel_invoice(w, invoice["id"]),
                   may_refuse=applied != 0)

    # ------------------------------------------------------------------ payments and memos

    def _targets(self, account: uuid.UUID) -> list[tuple[str, Any]]:
        found = [("invoice", r) for r in self.rows(
            "SELECT id, balance FROM invoices WHERE account_id = :a AND status = 'POSTED' "
            "AND balance > 0 ORDER BY id", a=account)]
        found += [("debit_memo", r) for r in self.rows(
            "SELECT id, balance FROM debit_memos WHERE account_id = :a AND status = 'POSTED' "
            "AND balance > 0 ORDER BY id", a=account)]
        return found

    def _applications(self, data: st.DataObject, account: uuid.UUID,
                      available: Decimal) -> list[ApplicationInput]:
        """Valid applications: to open documents of the account, within their balances and
        the amount available (the first open document always, the others at random)."""
        chosen: list[ApplicationInput] = []
        for n, (kind, target) in enumerate(self._targets(account)):
            if available <= 0 or (n > 0 and not data.draw(st.booleans())):
                continue
            most = min(available, target["balance"])
            cents = data.draw(st.integers(min_value=1, max_value=int(most * 100)))
            amount = Decimal(cents) / 100
            available -= amount
            chosen.append(ApplicationInput(amount=amount, **{f"{kind}_id": target["id"]}))
        return chosen

    @rule(data=st.data(), amount=amounts, apply=st.booleans())
    def create_payment(self, data: st.DataObject, amount: Decimal, apply: bool) -> None:
        account = data.draw(st.sampled_from(self.accounts))
        apps = self._applications(data, account, amount) if apply else []
        create = payments.CreatePayment(account_id=account, amount=amount, applications=apps)
        self.write("createPayment" + (" and apply" if apps else ""),
                   lambda w: payments.create_payment(w, create))

    @rule(data=st.data(), amount=amounts, apply=st.booleans())
    def create_credit_memo(self, data: st.DataObject, amount: Decimal, apply: bool) -> None:
        account = data.draw(st.sampled_from(self.accounts))
        apps = self._applications(data, account, amount) if apply else []
        create = payments.CreateCreditMemo(account_id=account, amount=amount, applications=apps)
        self.write("createCreditMemo" + (" and apply" if apps else ""),
                   lambda w: payments.create_credit_memo(w, create))

    @rule(data=st.data(), amount=amounts)
    def create_debit_memo(self, data: st.DataObject, amount: Decimal) -> None:
        account = data.draw(st.sampled_from(self.accounts))
        create = payments.CreateDebitMemo(account_id=account, amount=amount)
        self.write("createDebitMemo", lambda w: payments.create_debit_memo(w, create))

    def _source(self, data: st.DataObject, where: str) -> tuple[Any, Any] | None:
        found = [(PAYMENT, r) for r in self.rows(
            f"SELECT * FROM payments WHERE tenant_id = :t AND {where} ORDER BY id")]
        found += [(CREDIT_MEMO, r) for r in self.rows(
            f"SELECT * FROM credit_memos WHERE tenant_id = :t AND {where} ORDER BY id")]
        return data.draw(st.sampled_from(found)) if found else None

    @rule(data=st.data())
    def apply(self, data: st.DataObject) -> None:
        open_ = ("amount - applied_amount - refunded_amount > 0 AND account_id IN ("
                 "SELECT account_id FROM invoices WHERE status = 'POSTED' AND balance > 0 "
                 "UNION SELECT account_id FROM debit_memos WHERE balance > 0)")
        picked = self._source(data, open_)
        if picked is None:
            return
        source, row = picked
        apps = self._applications(
            data, row["account_id"], row["amount"] - row["applied_amount"] - row["refunded_amount"])
        if apps:
            self.write(f"apply {source.what}",
                       lambda w: applications.apply(w, source, row["id"], apps))

    @rule(data=st.data(), too_much=st.booleans())
    def unapply(self, data: st.DataObject, too_much: bool) -> None:
        picked = self._source(data, "applied_amount > 0")
        if picked is None:
            return
        source, row = picked
        applied = self.rows(
            f"SELECT invoice_id, debit_memo_id, sum(amount) AS s FROM applications "
            f"WHERE {source.column} = :s GROUP BY invoice_id, debit_memo_id "
            "HAVING sum(amount) > 0 ORDER BY 1, 2", s=row["id"])
        target = data.draw(st.sampled_from(applied))
        most = int(target["s"] * 100)
        cents = most + 1 if too_much else data.draw(st.integers(1, most))
        app = ApplicationInput(amount=Decimal(cents) / 100, invoice_id=target["invoice_id"],
                               debit_memo_id=target["debit_memo_id"])
        self.write(f"unapply {source.what}",
                   lambda w: applications.unapply(w, source, row["id"], [app]),
                   may_refuse=too_much)

    @rule(data=st.data(), too_much=st.booleans())
    def refund(self, data: st.DataObject, too_much: bool) -> None:
        picked = self._source(data, "amount - applied_amount - refunded_amount > 0")
        if picked is None:
            return
        source, row = picked
        most = int((row["amount"] - row["applied_amount"] - row["refunded_amount"]) * 100)
        cents = most + 1 if too_much else data.draw(st.integers(1, most))
        self.write(f"refund {source.what}",
                   lambda w: applications.refund(w, source, row["id"], Decimal(cents) / 100),
                   may_refuse=too_much)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def invariants_hold(self) -> None:
        async def check() -> list[str]:
            async with self.run.state.read() as conn:
                return await violations(conn, self.tenant_id)

        assert self.run(check()) == []

    @invariant()
    def only_partner_accounts_are_stale(self) -> None:
        assert self.rows("SELECT a.account_number FROM accounts a WHERE a.tenant_id = :t "
                         "AND NOT a.partner_account AND EXISTS (SELECT 1 FROM "
                         "metrics_stale_marks s WHERE s.tenant_id = a.tenant_id "
                         "AND s.account_id = a.id)") == []


def test_billing_machine(runner: Runner) -> None:
    BillingMachine.run = runner
    BillingMachine.refusals = Counter()
    BillingMachine.steps = Counter()
    BillingMachine.samples = {}
    run_state_machine_as_test(BillingMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
    print("\nsteps:", dict(BillingMachine.steps))
    print("refused (coded):", dict(BillingMachine.refusals))
    print("for instance:", BillingMachine.samples)
    assert sum(BillingMachine.steps.values()) > EXAMPLES * 5
