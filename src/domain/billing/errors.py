"""What can go wrong in billing, in its own words."""

from __future__ import annotations

from domain.shared.errors import DomainError, InvalidInput


class UnknownPlan(InvalidInput):
    def __init__(self, plan: str) -> None:
        super().__init__("plan", f"Unknown plan '{plan}'. GET /api/billing/plans lists them.")


class NoSubscription(DomainError):
    """You have no paid subscription."""

    code = "no-subscription"


class PaymentFailed(DomainError):
    """The payment was declined."""

    code = "payment-failed"


class GatewayError(Exception):
    """The payment gateway failed. `retryable`: a network error or 5xx (same idempotency key is safe)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
