"""The time written by UPDATEs of tenant tables, passed in as a parameter.

Citus refuses volatile functions (clock_timestamp(), random()) in UPDATEs of
distributed tables, and evaluates now() on the coordinator at best; one rule for
both servers: an UPDATE that stamps a time takes `CAST(:now AS timestamptz)` with
`now()` from here (the application's clock, UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
