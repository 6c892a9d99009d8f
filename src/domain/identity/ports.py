"""Identity's ports, in its own words. Implemented by adapters/memory and adapters/sql etc."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from uuid import UUID

if TYPE_CHECKING:
    from domain.identity.model import ApiKey, OneTimeToken, Role, Session, TokenPurpose, User


@dataclass(frozen=True, kw_only=True)
class UserQuery:
    """Which users an admin lists: those matching every filter given (None matches anything)."""

    text: str | None = None
    """Part of the email or the name, case-insensitive."""
    plan: str | None = None
    role: Role | None = None
    disabled: bool | None = None


class UserRepository(Protocol):
    async def add(self, user: User) -> None: ...
    async def get(self, user_id: UUID) -> User | None: ...
    async def get_by_email(self, email: str) -> User | None: ...
    async def update(self, user: User) -> None: ...
    async def search(self, query: UserQuery, limit: int, before: tuple[datetime, UUID] | None = None) -> Sequence[User]:
        """Users matching `query` (never a deleted account's tombstone), newest `created_at` first (ties by id,
        descending), only those strictly older than `before` (the (created_at, id) of the last user of the
        previous page)."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...
    async def get(self, session_id: UUID) -> Session | None: ...
    async def get_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        """The session and its user in one read (every request authenticated by an access token)."""
        ...

    async def update(self, session: Session) -> None: ...
    async def list_active_for_user(self, user_id: UUID) -> Sequence[Session]: ...
    async def last_activity(self, user_ids: Sequence[UUID]) -> Mapping[UUID, datetime]:
        """For each of `user_ids` that has a session: when one was last created or refreshed."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...
    async def get_by_hash(self, key_hash: str) -> ApiKey | None: ...
    async def get_with_owner(self, key_hash: str) -> tuple[ApiKey, User] | None:
        """The key and the user it belongs to in one read (every request authenticated by an API key)."""
        ...

    async def get_for_user(self, user_id: UUID, key_id: UUID) -> ApiKey | None: ...
    async def list_for_user(self, user_id: UUID) -> Sequence[ApiKey]: ...
    async def update(self, key: ApiKey) -> None: ...


class OneTimeTokenRepository(Protocol):
    async def add(self, token: OneTimeToken) -> None: ...
    async def get_by_hash(self, purpose: TokenPurpose, token_hash: str) -> OneTimeToken | None: ...
    async def update(self, token: OneTimeToken) -> None: ...
    async def list_unused_for_user(self, user_id: UUID, purpose: TokenPurpose) -> Sequence[OneTimeToken]: ...


class PasswordHasher(Protocol):
    """Hashing and checking are slow on purpose (tens to hundreds of milliseconds): they are awaited, so an
    adapter runs them off the event loop and every other request goes on meanwhile."""

    async def hash(self, password: str) -> str: ...
    async def verify(self, password_hash: str, password: str) -> bool: ...
    def needs_rehash(self, password_hash: str) -> bool: ...


class PasswordDenylist(Protocol):
    def __contains__(self, password: object) -> bool: ...


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    session_id: UUID
    role: Role


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    user_id: UUID
    session_id: UUID


class TokenIssuer(Protocol):
    """Signs and checks bearer tokens. `decode_*` raise Unauthenticated for anything not valid."""

    access_ttl_seconds: int
    refresh_ttl_seconds: int

    def issue_access(self, user_id: UUID, session_id: UUID, role: Role) -> str: ...
    def issue_refresh(self, user_id: UUID, session_id: UUID) -> str: ...
    def decode_access(self, token: str) -> AccessClaims: ...
    def decode_refresh(self, token: str) -> RefreshClaims: ...
