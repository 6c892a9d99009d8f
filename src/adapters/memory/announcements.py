"""In-memory announcements, their deliveries and the unsubscribed users (over the in-memory users table)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from adapters.memory.database import TableView
from domain.identity.announcement import Announcement, AnnouncementStatus, Audience
from domain.identity.model import User

DELIVERIES = "announcement_deliveries"
UNSUBSCRIBES = "email_unsubscribes"


@dataclasses.dataclass
class _Delivery:
    token_hash: str
    claimed_at: datetime
    sent_at: datetime | None = None


class InMemoryAnnouncementRepository(TableView):
    table = "announcements"

    async def add(self, announcement: Announcement) -> None:
        self._tx.insert(self.table, announcement.id, dataclasses.replace(announcement, sent=0))

    async def get(self, announcement_id: UUID) -> Announcement | None:
        announcement: Announcement | None = self._get(announcement_id)
        return None if announcement is None else self._with_sent(announcement)

    async def list(self, limit: int, before: tuple[datetime, UUID] | None = None) -> Sequence[Announcement]:
        found = [a for a in self._rows() if before is None or (a.created_at, a.id.int) < (before[0], before[1].int)]
        found.sort(key=lambda a: (a.created_at, a.id.int), reverse=True)
        return [self._with_sent(a) for a in found[:limit]]

    async def set_status(self, announcement_id: UUID, status: AnnouncementStatus, finished_at: datetime | None) -> None:
        announcement: Announcement | None = self._get(announcement_id)
        if announcement is not None:
            announcement.status = status
            announcement.finished_at = finished_at
            self._put(announcement_id, announcement)

    async def recipients(self, audience: Audience, after: UUID | None, limit: int) -> Sequence[User]:
        found = [u for u in self._audience(audience) if after is None or u.id.int > after.int]
        return sorted(found, key=lambda u: u.id.int)[:limit]

    async def count_recipients(self, audience: Audience) -> int:
        return len(self._audience(audience))

    def _audience(self, audience: Audience) -> Sequence[User]:
        unsubscribed = {user_id for user_id, _ in self._tx.items(UNSUBSCRIBES)}
        return [
            user
            for user in self._tx.rows("users")
            if user.email_verified
            and not user.disabled
            and not user.deleted
            and (audience.plan is None or user.plan == audience.plan)
            and user.id not in unsubscribed
        ]

    def _with_sent(self, announcement: Announcement) -> Announcement:
        sent = sum(
            1
            for (aid, _), d in self._tx.items(DELIVERIES)
            if aid == announcement.id and d is not None and d.sent_at is not None
        )
        return dataclasses.replace(announcement, sent=sent)


class InMemoryDeliveryRepository(TableView):
    table = DELIVERIES

    async def claim(self, announcement_id: UUID, user_id: UUID, token_hash: str, now: datetime) -> bool:
        key = (announcement_id, user_id)
        if self._get(key) is not None:
            return False
        self._tx.insert(self.table, key, _Delivery(token_hash, now))
        return True

    async def mark_sent(self, announcement_id: UUID, user_id: UUID, now: datetime) -> None:
        delivery: _Delivery | None = self._get((announcement_id, user_id))
        if delivery is not None:
            delivery.sent_at = now
            self._put((announcement_id, user_id), delivery)

    async def release(self, announcement_id: UUID, user_id: UUID) -> None:
        delivery: _Delivery | None = self._get((announcement_id, user_id))
        if delivery is not None and delivery.sent_at is None:
            self._put((announcement_id, user_id), None)

    async def user_for_token(self, token_hash: str) -> UUID | None:
        return next((key[1] for key, d in self._tx.items(self.table) if d and d.token_hash == token_hash), None)


class InMemoryUnsubscribeRepository(TableView):
    table = UNSUBSCRIBES

    async def add(self, user_id: UUID, now: datetime) -> None:
        if self._get(user_id) is None:
            self._put(user_id, now)

    async def is_unsubscribed(self, user_id: UUID) -> bool:
        return self._get(user_id) is not None
