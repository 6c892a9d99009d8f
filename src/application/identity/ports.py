"""What identity's use cases need from a transaction: its repositories, the outbox and the audit log."""

from __future__ import annotations

from typing import Protocol

from application.shared.audit import AuditLog
from application.shared.ports import UnitOfWork
from domain.identity.ports import ApiKeyRepository, OneTimeTokenRepository, SessionRepository, UserRepository


class IdentityUnitOfWork(UnitOfWork, Protocol):
    users: UserRepository
    sessions: SessionRepository
    api_keys: ApiKeyRepository
    tokens: OneTimeTokenRepository
    audit: AuditLog
