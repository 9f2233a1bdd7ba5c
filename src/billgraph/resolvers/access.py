"""API keys and the audit trail (SPEC §16): ADMIN keys only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import strawberry

from billgraph.context import Info
from billgraph.db.tx import Writer
from billgraph.schema.access import (
    ApiKey,
    AuditEvent,
    AuditEventConnection,
    AuditEventEdge,
    AuditEventFilter,
    CreateApiKeyInput,
    CreatedApiKey,
)
from billgraph.schema.common import PageInfo, parse_id, requested_page
from billgraph.schema.scopes import AdminScope
from billgraph.services import api_keys, audit


def optional_id(value: strawberry.ID | None, what: str, field: str) -> uuid.UUID | None:
    return None if value is None else parse_id(value, what, field)


@strawberry.type
class AccessQueries:
    @strawberry.field(description="The tenant's API keys, oldest first (ADMIN keys only).",
                      permission_classes=[AdminScope])
    async def api_keys(self, info: Info) -> list[ApiKey]:
        async with info.context.state.read() as conn:
            rows = await api_keys.list_keys(conn, info.context.tenant_id)
        return [ApiKey.from_row(row) for row in rows]

    @strawberry.field(description="The audit trail, newest first (ADMIN keys only).",
                      permission_classes=[AdminScope])
    async def audit_events(self, info: Info, first: int | None = None, after: str | None = None,
                           filter: AuditEventFilter | None = None) -> AuditEventConnection:
        page = requested_page(info, first, after)
        given = filter or AuditEventFilter()
        filters = audit.AuditFilter(
            operation=given.operation, outcome=given.outcome, since=given.since,
            until=given.until,
            account_id=optional_id(given.account_id, "account", "filter.accountId"),
            api_key_id=optional_id(given.api_key_id, "API key", "filter.apiKeyId"))
        async with info.context.state.read() as conn:
            result = await audit.list_events(conn, info.context.tenant_id, page, filters)
        return AuditEventConnection(
            edges=[AuditEventEdge(cursor=c, node=AuditEvent.from_row(r))
                   for r, c in zip(result.items, result.cursors, strict=True)],
            page_info=PageInfo.of(result), total_count=result.total_count)


@strawberry.type
class AccessMutations:
    @strawberry.mutation(description="Create an API key; its secret is shown only in the answer.",
                         permission_classes=[AdminScope])
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreatedApiKey:
        async def work(writer: Writer) -> CreatedApiKey:
            row, secret = await api_keys.create(
                writer.conn, writer.tenant_id, scope=input.scope.value,
                description=input.description, expires_at=input.expires_at,
                now=datetime.now(UTC))
            return CreatedApiKey(api_key=ApiKey.from_row(row), secret=secret)

        return await info.context.state.write(info.context.tenant_id, work)

    @strawberry.mutation(description="Revoke an API key: every server refuses it (401) "
                                     "within 5 seconds. Revoking it again changes nothing.",
                         permission_classes=[AdminScope])
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKey:
        key_id = parse_id(id, "API key")

        async def work(writer: Writer) -> ApiKey:
            row = await api_keys.revoke(writer.conn, writer.tenant_id, key_id,
                                        now=datetime.now(UTC))
            return ApiKey.from_row(row)

        key = await info.context.state.write(info.context.tenant_id, work)
        info.context.state.forget_key(key_id)
        return key
