"""Identity's aggregates, built with plausible values: a unique address, an aware UTC `created_at`, an
ordinary verified user; sessions, keys and tokens belong to a user passed as `user_id`."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from polyfactory import Use
from polyfactory.factories import DataclassFactory

from domain.identity.model import ApiKey, OneTimeToken, Role, Session, TokenPurpose, User
from domain.identity.secrets import API_KEY_PREFIX
from domain.shared.ids import new_id

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _hex_hash() -> str:
    return secrets.token_hex(32)


class UserFactory(DataclassFactory[User]):
    id = Use(new_id)
    email = Use(lambda: f"user-{secrets.token_hex(4)}@example.com")
    name = "Ada Lovelace"
    password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
    role = Role.USER
    plan = "free"
    created_at = T0
    email_verified_at = T0
    deleted_at = None
    disabled_at = None


class SessionFactory(DataclassFactory[Session]):
    id = Use(new_id)
    refresh_token_hash = Use(_hex_hash)
    created_at = T0
    expires_at = T0 + timedelta(days=30)
    rotated_at = None
    revoked_at = None


class ApiKeyFactory(DataclassFactory[ApiKey]):
    id = Use(new_id)
    name = "laptop"
    prefix = Use(lambda: API_KEY_PREFIX + secrets.token_hex(4))
    key_hash = Use(_hex_hash)
    created_at = T0
    last_used_at = None
    revoked_at = None


class OneTimeTokenFactory(DataclassFactory[OneTimeToken]):
    id = Use(new_id)
    purpose = TokenPurpose.RESET_PASSWORD
    token_hash = Use(_hex_hash)
    created_at = T0
    expires_at = T0 + TokenPurpose.RESET_PASSWORD.ttl
    used_at = None
