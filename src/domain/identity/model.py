"""Identity aggregates and their rules. Pure: no I/O, time passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from domain.identity.errors import InvalidToken
from domain.shared.errors import InvalidInput

if TYPE_CHECKING:
    from domain.identity.ports import PasswordDenylist

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 100

VERIFICATION_TOKEN_TTL = timedelta(hours=24)
RESET_TOKEN_TTL = timedelta(hours=1)


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"

    @property
    def ttl(self) -> timedelta:
        return VERIFICATION_TOKEN_TTL if self is TokenPurpose.VERIFY_EMAIL else RESET_TOKEN_TTL


def normalize_email(raw: str) -> str:
    """Trim and lower-case an address and check its shape (deliverability is proved by the emailed link)."""
    email = raw.strip().lower()
    local, at, domain = email.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or domain.startswith(".")
        or domain.endswith(".")
        or len(email) > EMAIL_MAX_LENGTH
        or any(ch.isspace() for ch in email)
        or "@" in local
    ):
        raise InvalidInput("email", "Enter a valid email address.")
    return email


def tombstone_email(user_id: UUID) -> str:
    """The address a deleted account keeps: unique, and refused by `normalize_email` (no dot in its domain), so
    nobody can sign in, sign up or ask for a link with it."""
    return f"deleted-{user_id}@invalid"


def check_password(password: str, common_passwords: PasswordDenylist, field: str = "password") -> None:
    """Length 12..128 (no truncation, no composition rules) and not a commonly used password. `field` names
    the value in the error (`new_password` when a signed-in user changes theirs)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInput(field, f"Use at least {PASSWORD_MIN_LENGTH} characters.")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInput(field, f"Use at most {PASSWORD_MAX_LENGTH} characters.")
    if password.lower() in common_passwords:
        raise InvalidInput(field, "This password is too common; choose another.")


def clean_name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = " ".join(raw.split())
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput("name", f"Use at most {NAME_MAX_LENGTH} characters.")
    return name or None


def profile_name(raw: str | None) -> str | None:
    """A name the user sets on their profile: null clears it; a string is cleaned as at signup (trimmed, runs of
    whitespace made one space) and must keep 1..100 characters (a blank one is refused, not taken for null)."""
    name = clean_name(raw)
    if raw is not None and name is None:
        raise InvalidInput("name", "Enter a name (or null to clear it).")
    return name


@dataclass(kw_only=True)
class User:
    id: UUID
    email: str
    name: str | None
    password_hash: str
    role: Role
    plan: str
    created_at: datetime
    email_verified_at: datetime | None = None
    deleted_at: datetime | None = None
    """When the owner deleted the account: its address and name are erased, and it never signs in again."""
    disabled_at: datetime | None = None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def erase(self, now: datetime) -> None:
        """The owner deleted the account: forget the address (a unique tombstone takes its place, so the
        address may sign up again; no valid address looks like it) and the name, and mark it deleted."""
        if self.deleted_at is None:
            self.email = tombstone_email(self.id)
            self.name = None
            self.deleted_at = now

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def disable(self, now: datetime) -> None:
        """Shut the account: it can no longer sign in (the caller revokes its sessions and keys)."""
        if self.disabled_at is None:
            self.disabled_at = now

    def enable(self) -> None:
        self.disabled_at = None

    def verify_email(self, now: datetime) -> None:
        if self.email_verified_at is None:
            self.email_verified_at = now


@dataclass(kw_only=True)
class Session:
    """A sign-in: one family of rotating refresh tokens. Only the hash of the current token is kept."""

    id: UUID
    user_id: UUID
    refresh_token_hash: str
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def rotate(self, new_hash: str, now: datetime) -> None:
        self.refresh_token_hash = new_hash
        self.rotated_at = now

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


@dataclass(kw_only=True)
class ApiKey:
    id: UUID
    user_id: UUID
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now


@dataclass(kw_only=True)
class OneTimeToken:
    """An emailed, single-use secret (verification or reset); only its hash is stored."""

    id: UUID
    user_id: UUID
    purpose: TokenPurpose
    token_hash: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def use(self, now: datetime) -> None:
        if self.used_at is not None or now >= self.expires_at:
            raise InvalidToken()
        self.used_at = now

    def discard(self, now: datetime) -> None:
        """Make it unusable without using it (expired or not): a later `use` is refused."""
        if self.used_at is None:
            self.used_at = now
