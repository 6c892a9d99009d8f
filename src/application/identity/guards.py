"""Checks later contexts apply to a principal before doing paid work."""

from __future__ import annotations

from application.identity.dto import Principal
from domain.identity.errors import EmailNotVerified, Forbidden
from domain.identity.model import Role


def require_verified_email(principal: Principal, *, required: bool = True) -> None:
    if required and not principal.user.email_verified:
        raise EmailNotVerified()


def require_admin(principal: Principal) -> None:
    if principal.user.role is not Role.ADMIN:
        raise Forbidden()
