"""Shared GraphQL documents and helpers for the catalog, subscription and order tests."""

from __future__ import annotations

from typing import Any

from tests.support import Client, LiveServer

ITEM = "id product { code } chargeType quantity price pricePeriod startDate endDate mrr"
TERMS = """pricePlan { code } scheme { code } billingCycleDay agreementDate billingFrequency
  performedOn performedBy { username }
  bindingInformation { bindingPeriod startDate endDate }
  concurrentUsageBasedPricing { concurrentUsage ratePercentage numberOfInstalledItems
    concurrentUsageBillingMethod }"""
SUBSCRIPTION = f"""id subscriptionNumber status startDate cancelledOn mrr
  ownerAccount {{ id }} invoiceOwnerAccount {{ id }}
  billingTerms {{ {TERMS} }} items {{ {ITEM} }}"""
ORDER = f"""id orderNumber orderDate account {{ id }} createdAt
  subscriptions {{ subscription {{ {SUBSCRIPTION} }} actions {{ type effectiveDate }} }}"""
CREATE_ORDER = f"""mutation($input: CreateOrderInput!, $key: String) {{
  createOrder(input: $input, idempotencyKey: $key) {{ {ORDER} }} }}"""
GET_SUBSCRIPTION = f"""query($n: String!) {{ subscription(subscriptionNumber: $n) {{
  {SUBSCRIPTION} }} }}"""
METRICS = "query($id: ID!) { metrics(accountId: $id) { contractedMrr stale } }"

# every table an order writes, for "nothing was written" checks
ORDER_TABLES = ("orders", "order_actions", "subscriptions", "subscription_items",
                "subscription_owners", "subscription_suspensions")


async def create_account(client: Client, name: str = "Customer", **extra: Any) -> str:
    data = await client.gql("mutation($input: CreateAccountInput!) { createAccount(input: $input) "
                            "{ id } }", {"input": {"name": name, **extra}})
    return str(data["createAccount"]["id"])


async def create_product(client: Client, code: str, name: str | None = None) -> dict[str, Any]:
    data = await client.gql(
        "mutation($input: CreateProductInput!) { createProduct(input: $input) { id code name } }",
        {"input": {"code": code, "name": name or code.title()}})
    return dict(data["createProduct"])


async def create_plan(client: Client, code: str, *charges: dict[str, Any],
                      **extra: Any) -> dict[str, Any]:
    data = await client.gql(
        """mutation($input: CreatePricePlanInput!) { createPricePlan(input: $input) {
             id code name currency charges { product { code } chargeType price pricePeriod } } }""",
        {"input": {"code": code, "name": code, "charges": list(charges), **extra}})
    return dict(data["createPricePlan"])


def charge(product: str, price: str, charge_type: str = "RECURRING",
           period: str | None = None) -> dict[str, Any]:
    result = {"productCode": product, "chargeType": charge_type, "price": price}
    if period:
        result["pricePeriod"] = period
    return result


async def catalog(client: Client) -> None:
    """Products A (recurring 10.00 monthly), B (recurring 120.00 annual), SETUP (one-time 50)
    in plan BASIC (USD)."""
    for code in ("A", "B", "SETUP"):
        await create_product(client, code)
    await create_plan(client, "BASIC", charge("A", "10.00"), charge("B", "120.00", period="ANNUAL"),
                      charge("SETUP", "50", "ONE_TIME"))


def terms(**extra: Any) -> dict[str, Any]:
    return {"pricePlan": {"code": "BASIC"}, "agreementDate": "2026-01-01",
            "billingFrequency": "MONTHLY", **extra}


def create_action(owner: str | None = None, **extra: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "CREATE_SUBSCRIPTION", "billingTerms": terms()}
    if owner is not None:
        action["subscriptionOwnerAccountId"] = owner
    action.update(extra)
    return action


def order(account: str, *entries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"accountId": account, "orderDate": "2026-01-01", "subscriptions": list(entries),
            **extra}


def entry(*actions: dict[str, Any], number: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"actions": list(actions)}
    if number is not None:
        result["subscriptionNumber"] = number
    return result


async def create_order(client: Client, input: dict[str, Any], key: str | None = None
                       ) -> dict[str, Any]:
    return dict((await client.gql(CREATE_ORDER, {"input": input, "key": key}))["createOrder"])


async def subscribe(client: Client, account: str, **action: Any) -> dict[str, Any]:
    """A new subscription (one CREATE_SUBSCRIPTION order); the subscription."""
    created = await create_order(client, order(account, entry(create_action(**action))))
    return dict(created["subscriptions"][0]["subscription"])


async def change(client: Client, number: str, *actions: dict[str, Any],
                 order_date: str = "2026-01-01") -> dict[str, Any]:
    """Apply actions to an existing subscription; the subscription afterwards."""
    created = await create_order(client, {**order(await owner_of(client, number),
                                                  entry(*actions, number=number)),
                                          "orderDate": order_date})
    return dict(created["subscriptions"][0]["subscription"])


async def owner_of(client: Client, number: str) -> str:
    data = await client.gql(GET_SUBSCRIPTION, {"n": number})
    return str(data["subscription"]["ownerAccount"]["id"])


async def contracted_mrr(client: Client, account: str) -> str:
    return str((await client.gql(METRICS, {"id": account}))["metrics"]["contractedMrr"])


async def row_counts(server: LiveServer, client: Client) -> dict[str, int]:
    counts = {}
    for table in ORDER_TABLES:
        rows = await server.sql(f"SELECT count(*) AS n FROM {table} WHERE tenant_id = :t",
                                t=client.tenant_id)
        counts[table] = rows[0]["n"]
    return counts
