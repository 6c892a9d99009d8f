"""What identity's use cases need from a transaction: its repositories, the outbox and the audit log; and the
Markdown renderer announcements are written with."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from application.shared.audit import AuditLog
from application.shared.ports import UnitOfWork
from domain.identity.announcement import Announcement, AnnouncementStatus, Audience
from domain.identity.model import User
from domain.identity.ports import ApiKeyRepository, OneTimeTokenRepository, SessionRepository, UserRepository


class AnnouncementRepository(Protocol):
    async def add(self, announcement: Announcement) -> None: ...
    async def get(self, announcement_id: UUID) -> Announcement | None:
        """With `sent` counted from its deliveries."""
        ...

    async def list(self, limit: int, before: tuple[datetime, UUID] | None = None) -> Sequence[Announcement]:
        """Newest `created_at` first (ties by id, descending), only those strictly older than `before`."""
        ...

    async def set_status(
        self, announcement_id: UUID, status: AnnouncementStatus, finished_at: datetime | None
    ) -> None: ...

    async def recipients(self, audience: Audience, after: UUID | None, limit: int) -> Sequence[User]:
        """Accounts the announcement goes to, by id (only ids greater than `after`): verified, not disabled, not
        deleted, on the audience's plan, and not unsubscribed from announcements."""
        ...

    async def count_recipients(self, audience: Audience) -> int: ...


class DeliveryRepository(Protocol):
    """One row per (announcement, user): claimed before the email goes, so a recipient gets it at most once."""

    async def claim(self, announcement_id: UUID, user_id: UUID, token_hash: str, now: datetime) -> bool:
        """Take the delivery (its unsubscribe token stored as `token_hash`); False if it was taken before, by
        this worker or another (the store decides, in one statement)."""
        ...

    async def mark_sent(self, announcement_id: UUID, user_id: UUID, now: datetime) -> None: ...
    async def release(self, announcement_id: UUID, user_id: UUID) -> None:
        """Give back a claim whose email was not sent (the send failed), so a retry may take it again."""
        ...

    async def user_for_token(self, token_hash: str) -> UUID | None:
        """Whose unsubscribe token this is."""
        ...


class UnsubscribeRepository(Protocol):
    async def add(self, user_id: UUID, now: datetime) -> None:
        """The user wants no more announcements (a second time changes nothing)."""
        ...

    async def is_unsubscribed(self, user_id: UUID) -> bool: ...


class IdentityUnitOfWork(UnitOfWork, Protocol):
    users: UserRepository
    sessions: SessionRepository
    api_keys: ApiKeyRepository
    tokens: OneTimeTokenRepository
    audit: AuditLog
    announcements: AnnouncementRepository
    deliveries: DeliveryRepository
    unsubscribes: UnsubscribeRepository


class MarkdownRenderer(Protocol):
    """Markdown to email bodies. Raw HTML in the source is escaped, never passed through."""

    def to_html(self, markdown: str) -> str: ...
    def to_text(self, markdown: str) -> str: ...
