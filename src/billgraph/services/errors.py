"""Coded errors: what a service raises, mapped to `extensions.code` in one place."""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):  # noqa: UP042 (str() and format() stay as they are)
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    LOCK_COMPETITION = "LOCK_COMPETITION"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    BINDING_PERIOD_ACTIVE = "BINDING_PERIOD_ACTIVE"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    INTERNAL = "INTERNAL"
    RATE_LIMITED = "RATE_LIMITED"


class BillgraphError(Exception):
    """An expected failure with a stable code and a message a person can act on."""

    code: ErrorCode = ErrorCode.INTERNAL
    retryable = False

    def __init__(self, message: str, *, field: str | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason

    def extensions(self) -> dict[str, object]:
        """`code` always; `field` when one input is at fault; `reason` (a stable snake_case
        word) where one code covers failures a client must tell apart."""
        ext: dict[str, object] = {"code": self.code.value}
        if self.field:
            ext["field"] = self.field
        if self.reason:
            ext["reason"] = self.reason
        if self.retryable:
            ext["retryable"] = True
        return ext


class BadUserInput(BillgraphError):
    code = ErrorCode.BAD_USER_INPUT

    def __init__(self, field: str, message: str, *, reason: str | None = None) -> None:
        super().__init__(f"{field}: {message}", field=field, reason=reason)


class NotFound(BillgraphError):
    code = ErrorCode.NOT_FOUND

    def __init__(self, what: str, ref: object, *, field: str | None = None) -> None:
        super().__init__(f"{what} {ref} not found", field=field)


class Conflict(BillgraphError):
    code = ErrorCode.CONFLICT


class Unauthenticated(BillgraphError):
    code = ErrorCode.UNAUTHENTICATED


class LockCompetition(BillgraphError):
    code = ErrorCode.LOCK_COMPETITION
    retryable = True


class IdempotencyKeyReused(BillgraphError):
    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class IdempotencyKeyInUse(BillgraphError):
    code = ErrorCode.IDEMPOTENCY_KEY_IN_USE
    retryable = True


class BindingPeriodActive(BillgraphError):
    code = ErrorCode.BINDING_PERIOD_ACTIVE


class Forbidden(BillgraphError):
    """The key's scope does not allow the operation (schema/scopes.py)."""

    code = ErrorCode.FORBIDDEN


class RateLimited(BillgraphError):
    code = ErrorCode.RATE_LIMITED
    retryable = True
