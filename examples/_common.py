"""What every example shares: the server URL and API key, a gql client, the catalog.

The examples talk to a running billgraph server through gql (pip install
'billgraph[examples]' or 'gql[httpx,websockets]'): HTTP for queries and mutations,
graphql-transport-ws for subscriptions. Each takes --url/--key or the environment:

    BILLGRAPH_URL       default http://127.0.0.1:8000
    BILLGRAPH_API_KEY   a write key (billgraph serve prints the first one)
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import datetime as dt
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gql import Client, GraphQLRequest, gql
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport


def parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=os.environ.get("BILLGRAPH_URL", "http://127.0.0.1:8000"),
                   help="the billgraph server (default: $BILLGRAPH_URL or http://127.0.0.1:8000)")
    p.add_argument("--key", default=os.environ.get("BILLGRAPH_API_KEY"),
                   help="an API key (default: $BILLGRAPH_API_KEY)")
    return p


def endpoint(url: str, websocket: bool = False) -> str:
    url = url.rstrip("/")
    if not url.endswith("/graphql"):
        url += "/graphql"
    if websocket:
        url = "ws" + url[len("http"):] if url.startswith("http") else url
    return url


@contextlib.asynccontextmanager
async def connect(args: argparse.Namespace) -> AsyncIterator[Api]:
    """A gql session over HTTP with the key in the Authorization header."""
    transport = HTTPXAsyncTransport(endpoint(args.url), timeout=120,
                                    headers={"Authorization": f"Bearer {args.key}"})
    async with Client(transport=transport, execute_timeout=120) as session:
        yield Api(session)


@contextlib.asynccontextmanager
async def subscribe_session(args: argparse.Namespace) -> AsyncIterator[AsyncClientSession]:
    """A gql session over graphql-transport-ws; the key goes in connection_init."""
    transport = WebsocketsTransport(
        url=endpoint(args.url, websocket=True),
        init_payload={"Authorization": f"Bearer {args.key}"},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL])
    async with Client(transport=transport) as session:
        yield session


class Api:
    def __init__(self, session: AsyncClientSession) -> None:
        self.session = session

    async def __call__(self, document: str, **variables: Any) -> dict[str, Any]:
        """Run one operation; its data (a failure raises TransportQueryError)."""
        request = GraphQLRequest(gql(document), variable_values=variables or None)
        return await self.session.execute(request)  # type: ignore[return-value]


def run(main: Callable[[argparse.Namespace], Awaitable[int | None]],
        args: argparse.Namespace) -> None:
    """Run an example: errors from the API become a message and exit code 1."""
    if not args.key:
        sys.exit("error: an API key is needed: --key KEY or BILLGRAPH_API_KEY")
    try:
        code = asyncio.run(main(args))
    except TransportQueryError as error:
        for e in error.errors or [{"message": str(error)}]:
            code_name = (e.get("extensions") or {}).get("code", "ERROR")
            print(f"error: {code_name}: {e.get('message')}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code or 0)


# ------------------------------------------------------------- shared pieces of the use cases

CREATE_ACCOUNT = """mutation CreateAccount($input: CreateAccountInput!, $key: String) {
  createAccount(input: $input, idempotencyKey: $key) { id accountNumber partnerAccount } }"""
SET_PARTNER = """mutation SetPartner($id: ID!, $partner: Boolean!) {
  setPartner(accountId: $id, partner: $partner) { id accountNumber partnerAccount } }"""
METRICS = """query Metrics($id: ID!) { account(id: $id) { accountNumber partnerAccount
  metrics { balance creditBalance totalInvoiceBalance contractedMrr currency stale
            lastMetricsUpdate lastInvoiceDate } } }"""
REFRESH = """mutation Refresh($id: ID!) { refreshMetrics(accountId: $id) {
  balance contractedMrr stale lastMetricsUpdate } }"""
CREATE_ORDER = """mutation CreateOrder($input: CreateOrderInput!, $key: String) {
  createOrder(input: $input, idempotencyKey: $key) {
    orderNumber subscriptions { subscription { subscriptionNumber mrr } } } }"""
PLAN = "query Plan($code: String!) { pricePlan(code: $code) { id code } }"
PRODUCTS = "query Products { products { code } }"
CREATE_PRODUCT = """mutation CreateProduct($input: CreateProductInput!) {
  createProduct(input: $input) { code } }"""
CREATE_PLAN = """mutation CreatePlan($input: CreatePricePlanInput!) {
  createPricePlan(input: $input) { id code } }"""


async def fleet_catalog(api: Api) -> str:
    """The plan FLEET (TRACKER 12.00 a month, SUPPORT 60.00 a quarter), made once."""
    try:
        exists = (await api(PLAN, code="FLEET"))["pricePlan"] is not None
    except TransportQueryError as error:  # NOT_FOUND
        if "NOT_FOUND" not in str(error.errors):
            raise
        exists = False
    if not exists:
        have = {p["code"] for p in (await api(PRODUCTS))["products"]}
        for code, name in (("TRACKER", "Vehicle tracker"), ("SUPPORT", "Fleet support")):
            if code not in have:
                await api(CREATE_PRODUCT, input={"code": code, "name": name})
        await api(CREATE_PLAN, input={"code": "FLEET", "name": "Fleet", "charges": [
            {"productCode": "TRACKER", "chargeType": "RECURRING", "price": "12.00"},
            {"productCode": "SUPPORT", "chargeType": "RECURRING", "price": "60.00",
             "pricePeriod": "QUARTERLY"}]})
    return "FLEET"


def new_subscription(owner: str, invoice_owner: str, start: str,
                     trackers: int = 1) -> dict[str, Any]:
    """A CREATE_SUBSCRIPTION action on the FLEET plan, billed monthly."""
    return {"actions": [{
        "type": "CREATE_SUBSCRIPTION", "effectiveDate": start,
        "subscriptionOwnerAccountId": owner, "invoiceOwnerAccountId": invoice_owner,
        "billingTerms": {"pricePlan": {"code": "FLEET"}, "agreementDate": start,
                         "billingFrequency": "MONTHLY"},
        "items": [{"productCode": "TRACKER", "quantity": trackers},
                  {"productCode": "SUPPORT"}]}]}


async def create_account(api: Api, name: str, *, partner: bool = False,
                         key: str | None = None) -> dict[str, Any]:
    data = await api(CREATE_ACCOUNT, input={"name": name, "partnerAccount": partner}, key=key)
    return dict(data["createAccount"])


async def show_metrics(api: Api, account_id: str, label: str) -> dict[str, Any]:
    account = (await api(METRICS, id=account_id))["account"]
    m = account["metrics"]
    print(f"{label} {account['accountNumber']}: balance {m['balance']} {m['currency']}, "
          f"contractedMrr {m['contractedMrr']}, stale={str(m['stale']).lower()}, "
          f"lastMetricsUpdate={m['lastMetricsUpdate']}")
    return dict(account)


def month_bounds(month: str | None) -> tuple[dt.date, dt.date]:
    """The first and last day of YYYY-MM (default: this month)."""
    first = (dt.date.fromisoformat(f"{month}-01") if month else dt.date.today().replace(day=1))
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return first, last
