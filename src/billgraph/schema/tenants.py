"""Tenant types."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type(description="A tenant-defined billing period length, used as CUSTOM1..CUSTOM5.")
class CustomPeriod:
    name: str = strawberry.field(description="CUSTOM1 .. CUSTOM5")
    unit: str = strawberry.field(description="DAY, WEEK or MONTH")
    count: int = strawberry.field(description="How many units one period lasts.")


@strawberry.type(description="Settings of the tenant.")
class TenantSettings:
    metrics_refresh_interval_seconds: int = strawberry.field(
        description="How often a stale partner account's metrics are recomputed (default 3600).")
    default_currency: str = strawberry.field(description="Currency of new accounts and plans.")
    custom_periods: list[CustomPeriod] = strawberry.field(
        description="The custom periods CUSTOM1..CUSTOM5 this tenant defines.")


@strawberry.type(description="The tenant of the API key: everything is scoped to it.")
class Tenant:
    id: strawberry.ID
    name: str = strawberry.field(description="The tenant's unique name.")
    settings: TenantSettings = strawberry.field(
        description="The tenant's settings (updateTenantSettings changes them).")

    @classmethod
    def from_row(cls, row: Any) -> Tenant:
        return cls(
            id=strawberry.ID(str(row["id"])),
            name=row["name"],
            settings=TenantSettings(
                metrics_refresh_interval_seconds=row["metrics_refresh_interval_seconds"],
                default_currency=row["default_currency"],
                custom_periods=[CustomPeriod(**p) for p in row["custom_periods"] or []],
            ),
        )


@strawberry.input(description="A custom period: name CUSTOM1..CUSTOM5, unit DAY/WEEK/MONTH, count.")
class CustomPeriodInput:
    name: str = strawberry.field(description="CUSTOM1 .. CUSTOM5.")
    unit: str = strawberry.field(description="DAY, WEEK or MONTH.")
    count: int = strawberry.field(description="How many units make the period (1 or more).")


@strawberry.input(description="Tenant settings to change; omitted fields stay as they are.")
class TenantSettingsInput:
    metrics_refresh_interval_seconds: int | None = strawberry.field(
        default=None, description=(
        "How often, at most, a stale partner account is refreshed (default 3600)."))
    default_currency: str | None = strawberry.field(
        default=None, description="ISO 4217 code for new accounts and plans without one.")
    custom_periods: list[CustomPeriodInput] | None = strawberry.field(
        default=None, description="Replaces the whole list of custom periods.")
