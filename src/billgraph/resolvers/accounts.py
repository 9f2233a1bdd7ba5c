"""Account queries and mutations."""

from __future__ import annotations

import dataclasses
import uuid

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.accounts import (
    Account,
    AccountConnection,
    AccountEdge,
    AccountFilter,
    AccountMetrics,
    CreateAccountInput,
    UpdateAccountInput,
    load_metrics,
)
from billgraph.schema.adjustments import BillingAddressInput
from billgraph.schema.common import PageInfo, parse_id, requested_page
from billgraph.services import accounts, adjustments
from billgraph.services.errors import NotFound

from .mutations import create


def tax_profile(address: BillingAddressInput | None,
                exempt: bool | None) -> adjustments.TaxProfile:
    return adjustments.TaxProfile(
        billing_address=None if address is None else adjustments.BillingAddress(
            country=address.country, region=address.region, city=address.city,
            postal_code=address.postal_code, line1=address.line1),
        tax_exempt=exempt)


def _optional_id(value: strawberry.ID | None, field: str) -> uuid.UUID | None:
    return parse_id(value, "account", field) if value is not None else None


async def fetch_account(info: Info, account_id: uuid.UUID, field: str = "id") -> Account:
    async with info.context.state.read() as conn:
        row = await accounts.get_account(conn, info.context.tenant_id, account_id, field=field)
    return Account.from_row(row)


async def find_account(info: Info, id: strawberry.ID | None,
                       account_number: str | None) -> Account:
    account_id = parse_id(id, "account") if id is not None else None
    async with info.context.state.read() as conn:
        row = await accounts.find_account(conn, info.context.tenant_id, account_id=account_id,
                                          account_number=account_number)
    if row is None:
        raise NotFound("account", id or account_number, field="id" if id else "accountNumber")
    return Account.from_row(row)


@strawberry.type
class AccountQueries:
    @strawberry.field(description="One account, by id or account number.")
    async def account(self, info: Info, id: strawberry.ID | None = None,
                      account_number: str | None = None) -> Account | None:
        return await find_account(info, id, account_number)

    @strawberry.field(description="A page of the tenant's accounts, oldest first.")
    async def accounts(self, info: Info, first: int | None = None, after: str | None = None,
                       filter: AccountFilter | None = None) -> AccountConnection:
        page = requested_page(info, first, after)
        filters = accounts.AccountFilter(
            partner_account=filter.partner_account if filter else None,
            status=filter.status.value if filter and filter.status else None,
            name_contains=filter.name_contains if filter else None,
            parent_account_id=_optional_id(filter.parent_account_id if filter else None,
                                           "filter.parentAccountId"),
            descendant_of=_optional_id(filter.descendant_of if filter else None,
                                       "filter.descendantOf"),
        )
        async with info.context.state.read() as conn:
            result = await accounts.list_accounts(conn, info.context.tenant_id, page, filters)
        edges = [AccountEdge(cursor=c, node=Account.from_row(r))
                 for r, c in zip(result.items, result.cursors, strict=True)]
        return AccountConnection(
            edges=edges, total_count=result.total_count,
            page_info=PageInfo.of(result),
        )

    @strawberry.field(description="An account's metrics.")
    async def metrics(self, info: Info, account_id: strawberry.ID) -> AccountMetrics | None:
        account = await fetch_account(info, parse_id(account_id, "account", "accountId"),
                                      field="accountId")
        return await load_metrics(info, uuid.UUID(account.id))


@strawberry.type
class AccountMutations:
    @strawberry.mutation(description="Create an account (and its zero metrics).")
    async def create_account(self, info: Info, input: CreateAccountInput,
                             idempotency_key: str | None = None) -> Account:
        data = accounts.CreateAccount(
            name=input.name, account_number=input.account_number, currency=input.currency,
            bill_cycle_day=input.bill_cycle_day, partner_account=input.partner_account,
            parent_account_id=_optional_id(input.parent_account_id, "parentAccountId"))
        tax = tax_profile(input.billing_address, input.tax_exempt)

        async def write(writer: Writer) -> uuid.UUID:
            row = await accounts.create_account(writer, data)
            await adjustments.set_tax_profile(writer, row["id"], tax)
            return uuid.UUID(str(row["id"]))

        def payload() -> dict[str, object]:
            values = dataclasses.asdict(data)
            if input.billing_address is not None or input.tax_exempt is not None:
                values["tax"] = dataclasses.asdict(tax)
            return values

        return await create(info, operation="createAccount", key=idempotency_key,
                            payload=payload, write=write,
                            read=lambda account_id: fetch_account(info, account_id))

    @strawberry.mutation(description="Change an account; omitted fields stay as they are.")
    async def update_account(self, info: Info, id: strawberry.ID,
                             input: UpdateAccountInput) -> Account:
        account_id = parse_id(id, "account")
        data = accounts.UpdateAccount(
            name=input.name, bill_cycle_day=input.bill_cycle_day,
            partner_account=input.partner_account,
            status=input.status.value if input.status else None,
            parent_account_id=_optional_id(input.parent_account_id, "parentAccountId"),
            detach_from_parent=input.detach_from_parent)

        tax = tax_profile(input.billing_address, input.tax_exempt)

        async def work(writer: Writer) -> None:
            await accounts.update_account(writer, account_id, data)
            await adjustments.set_tax_profile(writer, account_id, tax)

        await info.context.state.write(info.context.tenant_id, work)
        return await fetch_account(info, account_id)

    @strawberry.mutation(description=(
        "Flag or unflag a partner account. Unflagging recomputes its metrics at once."))
    async def set_partner(self, info: Info, account_id: strawberry.ID, partner: bool) -> Account:
        uid = parse_id(account_id, "account", "accountId")

        async def work(writer: Writer) -> None:
            await accounts.set_partner(writer, uid, partner)

        await info.context.state.write(info.context.tenant_id, work)
        return await fetch_account(info, uid, field="accountId")

    @strawberry.mutation(description="Recompute an account's metrics now.")
    async def refresh_metrics(self, info: Info, account_id: strawberry.ID) -> AccountMetrics:
        uid = parse_id(account_id, "account", "accountId")

        async def work(writer: Writer) -> None:
            await accounts.refresh_metrics(writer, uid)

        await info.context.state.write(info.context.tenant_id, work)
        return await load_metrics(info, uid)
