"""The GraphQL schema: query, mutation and subscription roots merged from resolvers/."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from billgraph.resolvers.accounts import AccountMutations, AccountQueries
from billgraph.resolvers.tenants import TenantMutations, TenantQueries

from .extensions import ErrorCodes, WriteScope
from .scalars import DecimalScalar

Query = merge_types("Query", (TenantQueries, AccountQueries))
Mutation = merge_types("Mutation", (TenantMutations, AccountMutations))


class BillgraphSchema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Errors are logged by ErrorCodes (unexpected ones only, with the request id)."""


def build_schema(extra_extensions: list[type[SchemaExtension]] | None = None) -> strawberry.Schema:
    return BillgraphSchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map={Decimal: DecimalScalar}),
        extensions=[*(extra_extensions or []), WriteScope, ErrorCodes],
    )


schema = build_schema()
