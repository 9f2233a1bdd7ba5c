"""API keys and the audit trail (api/planned/access.graphql, SPEC §16)."""

from __future__ import annotations

import datetime as dt
import json
from enum import Enum
from typing import Any

import strawberry
from sqlalchemy import RowMapping

from billgraph.context import Info

from .common import PageInfo


@strawberry.enum(description="What a key may do: READ ⊂ WRITE ⊂ ADMIN.")
class ApiKeyScope(Enum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@strawberry.type(description="An API key of the tenant (its secret is never shown again).")
class ApiKey:
    id: strawberry.ID
    prefix: str = strawberry.field(description="The key's first characters, to recognize it.")
    scope: ApiKeyScope = strawberry.field(
        description="READ: queries and subscriptions; WRITE: also mutations; ADMIN: also "
                    "keys, webhook endpoints and the audit trail.")
    description: str | None = strawberry.field(description="What the key is for.")
    created_at: dt.datetime
    last_used_at: dt.datetime | None = strawberry.field(
        description="Last authenticated use, written every few seconds (not per request).")
    expires_at: dt.datetime | None = strawberry.field(
        description="From this time on the key is refused (401); null: never expires.")
    revoked_at: dt.datetime | None = strawberry.field(
        description="When it was revoked: refused (401) by every server within 5 s.")

    @classmethod
    def from_row(cls, row: RowMapping) -> ApiKey:
        return cls(id=strawberry.ID(str(row["id"])), prefix=row["prefix"],
                   scope=ApiKeyScope(row["scope"]), description=row["description"],
                   created_at=row["created_at"], last_used_at=row["last_used_at"],
                   expires_at=row["expires_at"], revoked_at=row["revoked_at"])


@strawberry.type(description="A new key and its secret, shown only here.")
class CreatedApiKey:
    api_key: ApiKey = strawberry.field(description="The new key (as apiKeys lists it).")
    secret: str = strawberry.field(description="The bearer token; shown only here.")


@strawberry.input(description="A new API key.")
class CreateApiKeyInput:
    scope: ApiKeyScope = strawberry.field(description="READ, WRITE or ADMIN.")
    description: str | None = strawberry.field(default=None,
                                               description="What the key is for.")
    expires_at: dt.datetime | None = strawberry.field(
        default=None, description="When the key stops working (in the future, with an "
                                  "offset); omitted: never.")


@strawberry.type(description="One mutation, successful or not: who, what, when, outcome.")
class AuditEvent:
    id: strawberry.ID
    occurred_at: dt.datetime = strawberry.field(description="When the mutation ran.")
    operation: str = strawberry.field(description='The root field, e.g. "createOrder".')
    operation_name: str | None = strawberry.field(
        description="The client's operation name, if any.")
    request_id: str = strawberry.field(description="The request id (as in the server's logs).")
    outcome: str = strawberry.field(description='"OK", or the ErrorCode it failed with.')
    account_ids: list[strawberry.ID] = strawberry.field(
        description="The accounts it touched.")
    variables: str = strawberry.field(
        description="JSON of the root field's arguments, secrets masked as ***.")
    api_key_id: strawberry.Private[Any]

    @strawberry.field(description="The key that sent it (null once the key row is gone).")
    async def api_key(self, info: Info) -> ApiKey | None:
        if self.api_key_id is None:
            return None
        row = await info.context.loaders.api_key.load(self.api_key_id)
        return ApiKey.from_row(row) if row is not None else None

    @classmethod
    def from_row(cls, row: RowMapping) -> AuditEvent:
        return cls(id=strawberry.ID(str(row["id"])), occurred_at=row["occurred_at"],
                   operation=row["operation"], operation_name=row["operation_name"],
                   request_id=row["request_id"], outcome=row["outcome"],
                   account_ids=[strawberry.ID(str(a)) for a in row["account_ids"]],
                   variables=json.dumps(row["variables"], sort_keys=True),
                   api_key_id=row["api_key_id"])


@strawberry.type
class AuditEventEdge:
    cursor: str
    node: AuditEvent


@strawberry.type(description="A page of audit events, newest first.")
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Which audit events; every given field must match.")
class AuditEventFilter:
    operation: str | None = strawberry.field(default=None, description="The root field.")
    account_id: strawberry.ID | None = strawberry.field(
        default=None, description="Events that touched this account.")
    api_key_id: strawberry.ID | None = strawberry.field(default=None, description="Sent by.")
    outcome: str | None = strawberry.field(default=None, description='"OK" or an ErrorCode.')
    since: dt.datetime | None = strawberry.field(default=None, description="At or after.")
    until: dt.datetime | None = strawberry.field(default=None, description="Before.")
