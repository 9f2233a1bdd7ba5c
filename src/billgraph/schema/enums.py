"""Enums of the public contract."""

from __future__ import annotations

from enum import Enum

import strawberry

from billgraph.services.errors import ErrorCode as _ErrorCode

# strawberry.enum marks the services' enum itself (and returns it): one class, named for mypy
strawberry.enum(_ErrorCode, description="Stable error codes, in `extensions.code` of errors.")
ErrorCode = _ErrorCode


@strawberry.enum(description="How often a subscription is billed (CUSTOMn: defined per tenant).")
class BillingFrequency(Enum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"
    BIANNUAL = "BIANNUAL"
    ANNUAL = "ANNUAL"
    TWOYEARS = "TWOYEARS"
    CUSTOM1 = "CUSTOM1"
    CUSTOM2 = "CUSTOM2"
    CUSTOM3 = "CUSTOM3"
    CUSTOM4 = "CUSTOM4"
    CUSTOM5 = "CUSTOM5"


@strawberry.enum(description="The length of a binding (contractual commitment) period.")
class BindingPeriod(Enum):
    WEEK = "WEEK"
    MONTH = "MONTH"
    QUARTER = "QUARTER"
    BIANNUAL = "BIANNUAL"
    ANNUAL = "ANNUAL"
    TWOYEARS = "TWOYEARS"
    CUSTOM1 = "CUSTOM1"
    CUSTOM2 = "CUSTOM2"
    CUSTOM3 = "CUSTOM3"
    CUSTOM4 = "CUSTOM4"
    CUSTOM5 = "CUSTOM5"


@strawberry.enum(description="How concurrent-usage pricing counts the billed quantity.")
class ConcurrentUsageBillingMethod(Enum):
    BASED_ON_NUMBER_OF_INSTALLED_ITEMS = "BASED_ON_NUMBER_OF_INSTALLED_ITEMS"
    BASED_ON_MAXIMUM_CAPACITY = "BASED_ON_MAXIMUM_CAPACITY"
    BASED_ON_ACTUAL_CAPACITY = "BASED_ON_ACTUAL_CAPACITY"


@strawberry.enum(description="NORMAL: billed at a frequency; ONE_TIME: billed once at the start.")
class BillingTermSchemeType(Enum):
    NORMAL = "NORMAL"
    ONE_TIME = "ONE_TIME"


@strawberry.enum(description="The kind of a price plan charge.")
class ChargeType(Enum):
    RECURRING = "RECURRING"
    ONE_TIME = "ONE_TIME"
    USAGE = "USAGE"


@strawberry.enum(description="Whether an account is active.")
class AccountStatus(Enum):
    ACTIVE = "ACTIVE"
    CANCELED = "CANCELED"


@strawberry.enum(description="The state of a subscription.")
class SubscriptionStatus(Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"


@strawberry.enum(description="The order actions (as in Zuora Orders).")
class OrderActionType(Enum):
    CREATE_SUBSCRIPTION = "CREATE_SUBSCRIPTION"
    ADD_PRODUCT = "ADD_PRODUCT"
    UPDATE_PRODUCT = "UPDATE_PRODUCT"
    REMOVE_PRODUCT = "REMOVE_PRODUCT"
    SUSPEND = "SUSPEND"
    RESUME = "RESUME"
    CANCEL_SUBSCRIPTION = "CANCEL_SUBSCRIPTION"
    OWNER_TRANSFER = "OWNER_TRANSFER"
    RENEW_SUBSCRIPTION = "RENEW_SUBSCRIPTION"


@strawberry.enum(description="The state of a background job.")
class JobStatus(Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.enum(description="The state of a bill run.")
class BillRunStatus(Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


@strawberry.enum(description="DRAFT documents change nothing; POSTED ones count; "
                             "CANCELED ones no longer do.")
class DocumentStatus(Enum):
    DRAFT = "DRAFT"
    POSTED = "POSTED"
    CANCELED = "CANCELED"
