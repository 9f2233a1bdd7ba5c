"""What an order asks for (the service's input), and its JSON form for async jobs."""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from billgraph.services.billing_terms import BillingTermsInput

ACTION_TYPES = (
    "CREATE_SUBSCRIPTION", "ADD_PRODUCT", "UPDATE_PRODUCT", "REMOVE_PRODUCT", "SUSPEND",
    "RESUME", "CANCEL_SUBSCRIPTION", "OWNER_TRANSFER", "RENEW_SUBSCRIPTION",
)


@dataclass
class ItemInput:
    product_code: str
    quantity: int | None = None
    price: Decimal | None = None


@dataclass
class ActionInput:
    type: str
    effective_date: date | None = None
    # CREATE_SUBSCRIPTION
    subscription_owner_account_id: str | None = None
    invoice_owner_account_id: str | None = None
    billing_terms: BillingTermsInput | None = None
    items: list[ItemInput] | None = None
    # ADD_PRODUCT, UPDATE_PRODUCT, REMOVE_PRODUCT
    item: ItemInput | None = None
    item_id: str | None = None
    # OWNER_TRANSFER
    new_subscription_owner_account_id: str | None = None
    new_invoice_owner_account_id: str | None = None
    # CANCEL_SUBSCRIPTION
    override_binding: bool | None = None


@dataclass
class SubscriptionInput:
    actions: list[ActionInput]
    subscription_number: str | None = None


@dataclass
class OrderInput:
    account_id: str
    subscriptions: list[SubscriptionInput] = field(default_factory=list)
    order_date: date | None = None
    order_number: str | None = None


@dataclass(frozen=True)
class Limits:
    """At most this many subscriptions, and actions in all, per order (SPEC §5)."""

    subscriptions: int
    actions: int


SYNC_LIMITS = Limits(subscriptions=50, actions=50)
ASYNC_LIMITS = Limits(subscriptions=300, actions=300)

# ------------------------------------------------------------------ JSON (job payloads)

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """Dates as ISO strings, Decimals as strings, dataclasses as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, date | Decimal):
        return str(value)
    return value


def from_json(kind: type[T], data: Any) -> T:
    """The inverse of `to_json` for the input dataclasses above."""
    return _decode(kind, data)  # type: ignore[no-any-return]


def _decode(kind: Any, data: Any) -> Any:
    if data is None:
        return None
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in get_args(kind) if a is not type(None)]
        return _decode(inner, data)
    if origin is list:
        (inner,) = get_args(kind)
        return [_decode(inner, v) for v in data]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{name: _decode(hints[name], v) for name, v in data.items()})
    if kind is date:
        return date.fromisoformat(data)
    if kind is Decimal:
        return Decimal(data)
    return data
