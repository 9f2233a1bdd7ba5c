"""Usage of USAGE charges, aggregated (SPEC §11). Pure.

Usage records are read aggregated per item and UTC day (``UsageDay``: the day's sum,
largest record, last record by timestamp, and count); a service period's quantity is
then those days aggregated by the charge's ``usageAggregation``:

* SUM — the total of the period's records;
* MAX — the largest single record of the period;
* LAST — the record with the latest timestamp in the period (the last of its last day:
  a later UTC date always means a later timestamp).

A period without records has quantity 0 (and costs nothing under every model).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from billgraph.services.billing.values import quick_init

__all__ = ["UsageAggregation", "UsageDay", "aggregate", "days_within"]


class UsageAggregation(StrEnum):
    SUM = "SUM"
    MAX = "MAX"
    LAST = "LAST"


@quick_init
@dataclass(frozen=True)
class UsageDay:
    """The records of one item on one UTC day."""

    day: date
    total: Decimal
    peak: Decimal
    last: Decimal  # the quantity of the day's record with the latest timestamp
    count: int


def days_within(days: Sequence[UsageDay], start: date, end: date) -> Sequence[UsageDay]:
    """The days of ``days`` (ascending) in [start, end)."""
    lo = bisect.bisect_left(days, start, key=lambda d: d.day)
    hi = bisect.bisect_left(days, end, key=lambda d: d.day)
    return days[lo:hi]


def aggregate(days: Sequence[UsageDay], aggregation: UsageAggregation | str) -> Decimal:
    """The quantity of ``days`` (ascending) under ``aggregation``; 0 without records."""
    if not days:
        return Decimal(0)
    if aggregation == UsageAggregation.SUM:
        return sum((d.total for d in days), Decimal(0))
    if aggregation == UsageAggregation.MAX:
        return max(d.peak for d in days)
    if aggregation == UsageAggregation.LAST:
        return days[-1].last
    raise ValueError(f"unknown usage aggregation {aggregation!r}")
