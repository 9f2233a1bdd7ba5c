"""SQLModel tables, one module per aggregate. `metadata` is what migrations describe."""

from sqlmodel import SQLModel

from ._base import new_id, new_ids
from .accounts import Account, AccountMetrics, MetricsStaleMark
from .adjustments import Discount, InvoiceLineTax, SubscriptionDiscount, TaxRate
from .audit import AuditEvent
from .catalog import BillingTermScheme, PlanCharge, PricePlan, Product
from .documents import InvoiceDocument
from .hierarchy import HierarchyMetrics, HierarchyStaleMark
from .idempotency import IdempotencyKey
from .invoices import BillingLedgerEntry, BillRun, Invoice, InvoiceLine
from .orders import Job, Order, OrderAction
from .payments import Application, CreditMemo, DebitMemo, Payment, Refund
from .references import tenant_references
from .subscriptions import (
    ConcurrentUsageReport,
    Subscription,
    SubscriptionItem,
    SubscriptionOwner,
    SubscriptionSuspension,
)
from .tenants import ApiKey, Tenant, User
from .usage import UsageRecord
from .webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

metadata = SQLModel.metadata
tenant_references(metadata)

__all__ = [
    "Account", "AccountMetrics", "ApiKey", "Application", "AuditEvent", "BillRun",
    "BillingLedgerEntry", "BillingTermScheme", "ConcurrentUsageReport", "CreditMemo",
    "DebitMemo", "Discount", "HierarchyMetrics", "HierarchyStaleMark", "IdempotencyKey",
    "Invoice", "InvoiceDocument", "InvoiceLine", "InvoiceLineTax", "Job", "MetricsStaleMark",
    "Order", "OrderAction", "Payment", "PlanCharge", "PricePlan", "Product", "Refund",
    "Subscription",
    "SubscriptionDiscount", "SubscriptionItem", "SubscriptionOwner", "SubscriptionSuspension",
    "TaxRate", "Tenant", "UsageRecord", "User", "WebhookDelivery", "WebhookEndpoint",
    "WebhookEvent", "metadata", "new_id", "new_ids",
]
