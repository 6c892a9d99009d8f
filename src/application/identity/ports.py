"""What identity's use cases need from a transaction: its repositories and the outbox."""

from __future__ import annotations

from typing import Protocol

from application.shared.ports import UnitOfWork
from domain.identity.ports import ApiKeyRepository, OneTimeTokenRepository, SessionRepository, UserRepository


class IdentityUnitOfWork(UnitOfWork, Protocol):
    users: UserRepository
    sessions: SessionRepository
    api_keys: ApiKeyRepository
    tokens: OneTimeTokenRepository
