"""Per-tenant rate limits (SPEC §16): a token bucket per tenant, in this process.

Each tenant's bucket holds up to `burst` tokens and refills at `rate` tokens a
second; a request (an HTTP GraphQL request, or an operation started over a
websocket) takes one. An empty bucket answers 429 RATE_LIMITED with Retry-After
and the RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset headers. The
limit is per server process: N processes (`serve --workers N`, several
instances) admit up to N times the rate in total. Tenants never share a bucket,
so one tenant flooding the server is refused before it costs a database query,
and the others keep their own budget.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

MAX_TRACKED = 100_000  # tenants with a bucket in memory; full buckets are dropped past it


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the bucket is full again
    retry_after: int  # until one token is there (0 when allowed)

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimiter:
    def __init__(self, rate: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}  # tenant -> (tokens, at)

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, tenant_id: uuid.UUID) -> Decision:
        now = self.clock()
        tokens, at = self._buckets.get(tenant_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        if len(self._buckets) >= MAX_TRACKED and tenant_id not in self._buckets:
            self._forget_full(now)
        self._buckets[tenant_id] = (tokens, now)
        return Decision(
            allowed=allowed, limit=self.burst, remaining=int(tokens),
            reset_seconds=math.ceil((self.burst - tokens) / self.rate),
            retry_after=0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate)))

    def _forget_full(self, now: float) -> None:
        self._buckets = {t: (tokens, at) for t, (tokens, at) in self._buckets.items()
                         if tokens + (now - at) * self.rate < self.burst}
