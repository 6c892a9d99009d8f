"""What can go wrong in a conversation, in its own words."""

from __future__ import annotations

from domain.shared.errors import DomainError, InvalidInput, Unavailable


class QuotaExceeded(DomainError):
    """Your plan's token quota for this period is used up."""

    code = "quota-exceeded"


class ModelNotAllowed(DomainError):
    """Your plan does not include this model."""

    code = "model-not-allowed"


class UnknownModel(InvalidInput):
    """No such model."""

    def __init__(self, model: str) -> None:
        super().__init__("model", f"Unknown model '{model}'. GET /api/models lists the models you can use.")
        self.model = model


class ProviderUnavailable(DomainError):
    """Every provider for this model failed before answering; nothing was charged."""

    code = "provider-unavailable"


class AccountRevoked(DomainError):
    """The account was disabled while the reply streamed: what was written so far is kept and charged."""

    code = "account-disabled"


class ProviderError(Exception):
    """Raised by LLM provider adapters. `retryable` errors (timeouts, 429, 5xx, overloaded) let the router
    fail over to the next provider when nothing has been streamed yet."""

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class QuotaUnavailable(DomainError):
    """The quota ledger cannot be reached; no generation happens unmetered."""

    code = "service-unavailable"


class ReplyNotRecorded(Unavailable):
    """The reply could not be saved (the database stayed down beyond the retries); try again shortly."""
