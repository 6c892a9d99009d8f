"""Wire shapes of /api/auth and /api/keys (API.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from application.identity.dto import TokenPair
from domain.identity.model import ApiKey, User

Email = Annotated[str, msgspec.Meta(min_length=1, max_length=320, description="Email address")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, description="12 to 128 characters")]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class SignUpBody(msgspec.Struct):
    email: Email
    password: Password
    name: Annotated[str, msgspec.Meta(max_length=1000)] | None = None


class SignInBody(msgspec.Struct):
    email: Email
    password: Password


class RefreshBody(msgspec.Struct):
    refresh_token: Token


class SignOutBody(msgspec.Struct):
    refresh_token: Token | None = None


class EmailBody(msgspec.Struct):
    email: Email


class TokenBody(msgspec.Struct):
    token: Token


class ResetPasswordBody(msgspec.Struct):
    token: Token
    password: Password


class ProfileBody(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(max_length=1000, description="1 to 100 characters once trimmed")] | None
    """Required; null clears the name."""


class ChangePasswordBody(msgspec.Struct):
    current_password: Password
    new_password: Password


class DeleteAccountBody(msgspec.Struct):
    password: Password


class ApiKeyBody(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class Accepted(msgspec.Struct):
    detail: str


class UserOut(msgspec.Struct):
    id: UUID
    email: str
    name: str | None
    email_verified: bool
    role: str
    plan: str
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            email_verified=user.email_verified,
            role=user.role.value,
            plan=user.plan,
            created_at=user.created_at,
        )


class TokensOut(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    user: UserOut

    @classmethod
    def of(cls, pair: TokenPair) -> TokensOut:
        return cls(pair.access_token, pair.refresh_token, "bearer", pair.expires_in, UserOut.of(pair.user))


class ApiKeyOut(msgspec.Struct):
    id: UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(key.id, key.name, key.prefix, key.created_at, key.last_used_at)


class CreatedApiKeyOut(msgspec.Struct):
    id: UUID
    name: str
    prefix: str
    key: str
    created_at: datetime


class ApiKeyList(msgspec.Struct):
    items: list[ApiKeyOut]
    next_cursor: str | None = None
