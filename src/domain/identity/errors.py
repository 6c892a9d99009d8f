"""What can go wrong in identity, in its own words."""

from __future__ import annotations

from domain.shared.errors import Conflict, DomainError


class InvalidCredentials(DomainError):
    """The email or password is incorrect."""

    code = "invalid-credentials"


class InvalidToken(DomainError):
    """The link is unknown, expired or already used."""

    code = "invalid-token"


class Unauthenticated(DomainError):
    """The credentials are missing, invalid, expired or revoked."""

    code = "invalid-token"


class EmailNotVerified(DomainError):
    """Verify your email address before using this feature."""

    code = "email-not-verified"


class Forbidden(DomainError):
    """Your role does not allow this."""

    code = "forbidden"


class AccountDisabled(DomainError):
    """This account has been disabled; contact support."""

    code = "account-disabled"


class CannotChangeSelf(Conflict):
    """An admin cannot disable or demote their own account."""

    code = "cannot-change-self"
