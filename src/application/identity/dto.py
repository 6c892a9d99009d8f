"""Results identity's use cases return (plain data the edge serialises)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from domain.identity.model import ApiKey, User


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user signed in through a session, or through an API key."""

    user: User
    session_id: UUID | None = None
    api_key_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    api_key: ApiKey
    key: str
    """The secret itself: returned once, never stored."""
