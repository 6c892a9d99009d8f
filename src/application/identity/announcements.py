"""Announcements, for admins: queue one (POST /api/admin/announcements) and follow its progress.

Queuing is one transaction: the announcement (its Markdown rendered to HTML and plain text, raw HTML escaped,
and the size of its audience), the audit entry (`announcement.create`) and the outbox job of its first batch.
The worker sends it from there (announcement_delivery.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from application.identity import topics
from application.identity.dto import Principal
from application.identity.guards import require_admin
from application.identity.ports import IdentityUnitOfWork, MarkdownRenderer
from application.shared import audit
from application.shared.audit import AuditEntry
from application.shared.pagination import check_limit, decode_cursor, next_cursor
from application.shared.ports import OutboxMessage
from domain.identity.announcement import Announcement, AnnouncementStatus, Audience, check_announcement
from domain.shared.clock import Clock
from domain.shared.errors import NotFound
from domain.shared.ids import new_id

log = logging.getLogger("parley.admin")


@dataclass(frozen=True, slots=True)
class NewAnnouncement:
    subject: str
    body_markdown: str
    audience: Audience


@dataclass(frozen=True, slots=True)
class AnnouncementPage:
    items: Sequence[Announcement]
    next_cursor: str | None


class CreateAnnouncement:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], markdown: MarkdownRenderer, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._markdown = markdown
        self._clock = clock

    async def __call__(self, principal: Principal, new: NewAnnouncement) -> Announcement:
        require_admin(principal)
        check_announcement(new.subject, new.body_markdown)
        now = self._clock.now()
        async with self._uow_factory() as uow:
            announcement = Announcement(
                id=new_id(),
                subject=" ".join(new.subject.split()),
                body_markdown=new.body_markdown,
                body_html=self._markdown.to_html(new.body_markdown),
                body_text=self._markdown.to_text(new.body_markdown),
                audience=new.audience,
                status=AnnouncementStatus.QUEUED,
                recipients=await uow.announcements.count_recipients(new.audience),
                created_by=principal.user.id,
                created_at=now,
            )
            await uow.announcements.add(announcement)
            await uow.audit.record(
                AuditEntry(
                    action=audit.ANNOUNCEMENT_CREATE,
                    target_id=announcement.id,
                    created_at=now,
                    actor=audit.ACTOR_USER,
                    actor_id=principal.user.id,
                    details={
                        "subject": announcement.subject,
                        "audience": announcement.audience.value,
                        "recipients": announcement.recipients,
                    },
                )
            )
            payload = {"announcement_id": str(announcement.id), "after": None}
            await uow.outbox.add(OutboxMessage(topic=topics.ANNOUNCEMENT_BATCH, payload=payload, created_at=now))
            await uow.commit()
        log.info(
            "announcement.queued",
            extra={"announcement_id": str(announcement.id), "recipients": announcement.recipients},
        )
        return announcement


class ListAnnouncements:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, principal: Principal, limit: int = 20, cursor: str | None = None) -> AnnouncementPage:
        require_admin(principal)
        check_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        async with self._uow_factory() as uow:
            found = await uow.announcements.list(limit + 1, before)
        return AnnouncementPage(found[:limit], next_cursor(found, limit, lambda a: (a.created_at, a.id)))


class GetAnnouncement:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, principal: Principal, announcement_id: UUID) -> Announcement:
        require_admin(principal)
        async with self._uow_factory() as uow:
            announcement = await uow.announcements.get(announcement_id)
        if announcement is None:
            raise NotFound("No announcement has that id.")
        return announcement
