"""The GraphQL schema, assembled above every layer from the root types of resolvers/.

Nothing below imports this module: resolvers/ → schema/ → loaders/ → services/ → db/.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import strawberry
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.tools import merge_types

from billgraph.resolvers.access import AccessMutations, AccessQueries
from billgraph.resolvers.accounts import AccountMutations, AccountQueries
from billgraph.resolvers.adjustments import AdjustmentMutations, AdjustmentQueries
from billgraph.resolvers.bill_runs import BillRunMutations, BillRunQueries
from billgraph.resolvers.catalog import CatalogMutations, CatalogQueries
from billgraph.resolvers.events import EventSubscriptions
from billgraph.resolvers.hierarchy import HierarchyMutations
from billgraph.resolvers.invoices import InvoiceMutations, InvoiceQueries
from billgraph.resolvers.jobs import JobQueries
from billgraph.resolvers.orders import OrderMutations, OrderQueries
from billgraph.resolvers.payments import PaymentMutations, PaymentQueries
from billgraph.resolvers.previews import PreviewQueries
from billgraph.resolvers.subscriptions import SubscriptionQueries
from billgraph.resolvers.summary import SummaryQueries
from billgraph.resolvers.tenants import TenantMutations, TenantQueries
from billgraph.resolvers.usage import UsageMutations
from billgraph.resolvers.webhooks import WebhookMutations, WebhookQueries
from billgraph.schema.combined_extensions import combined
from billgraph.schema.docs import describe_conventions
from billgraph.schema.document_cache import document_cache
from billgraph.schema.execution import PlainFieldsExecutor, lean_resolvers
from billgraph.schema.extensions import WebsocketRateLimit, apply_code
from billgraph.schema.limits import Limits, query_limits
from billgraph.schema.scalars import DateTimeScalar, DecimalScalar
from billgraph.schema.scopes import audit_mutations

Query = merge_types("Query", (TenantQueries, AccountQueries, InvoiceQueries, PaymentQueries,
                             CatalogQueries, SubscriptionQueries, OrderQueries, JobQueries,
                             BillRunQueries, SummaryQueries, AccessQueries, AdjustmentQueries,
                             WebhookQueries, PreviewQueries))
Mutation = merge_types("Mutation", (TenantMutations, AccountMutations, InvoiceMutations,
                                    PaymentMutations, CatalogMutations, OrderMutations,
                                    BillRunMutations, UsageMutations, AccessMutations,
                                    AdjustmentMutations, WebhookMutations, HierarchyMutations))
SubscriptionRoot = merge_types("SubscriptionRoot", (EventSubscriptions,))


class CachedNames(NameConverter):
    """strawberry's names, each camel-cased once: strawberry converts every input field's
    name again on each request while it builds the arguments (a createOrder spent ~1.5 %
    of its server CPU there); the result depends on the Python name alone."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


class BillgraphSchema(strawberry.Schema):
    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """The one place errors get their codes (every operation type passes here);
        only unexpected errors are logged, with the request id."""
        context = getattr(execution_context, "context", None)
        request_id = getattr(context, "request_id", "-")
        for error in errors:
            apply_code(error, request_id)


def build_schema(limits: Limits | None = None, *, introspection: bool = True,
                 observers: list[Any] | None = None) -> strawberry.Schema:
    # one extension for strawberry, the parts' hooks in this order (schema/combined_extensions)
    extensions: list[Any] = [combined(*(observers or []), query_limits(limits or Limits()),
                                      document_cache(), WebsocketRateLimit)]
    if not introspection:
        extensions.insert(0, DisableIntrospection)
    audit_mutations(Mutation)  # and the write scope check: every mutation, one place
    built = BillgraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=SubscriptionRoot,
        config=StrawberryConfig(scalar_map={Decimal: DecimalScalar, datetime: DateTimeScalar},
                                name_converter=CachedNames()),
        extensions=extensions,
        execution_context_class=PlainFieldsExecutor,
    )
    describe_conventions(built._schema)
    lean_resolvers(built._schema, built.config.info_class)
    return built


schema = build_schema()
