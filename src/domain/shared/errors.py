"""The base of every error the domain and the use cases raise.

Each error carries a stable `code` (the problem-details slug at the HTTP edge); the edge maps codes to
status codes, so no use case knows about HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    code: str = "domain-error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.__class__.__doc__ or self.code)
        self.detail = detail or (self.__class__.__doc__ or self.code).strip()


class NotFound(DomainError):
    """The resource does not exist (or belongs to someone else)."""

    code = "not-found"


class InvalidInput(DomainError):
    """A value broke a domain rule; `field` names it for the client."""

    code = "validation-error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RateLimited(DomainError):
    """Too many requests; try again later."""

    code = "rate-limited"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many requests; retry in {retry_after} s.")
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency the operation needs is down; nothing was done."""

    code = "service-unavailable"


class Conflict(DomainError):
    """The change clashes with one made concurrently (a unique value already taken)."""

    code = "conflict"
