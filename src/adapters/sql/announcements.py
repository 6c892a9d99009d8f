"""Announcements, their deliveries and unsubscribes over SQL. A delivery is claimed with `INSERT ... ON CONFLICT
DO NOTHING` on its (announcement, user) key: the database decides, in one statement, which of two concurrent
workers takes a recipient (on PostgreSQL the second waits for the first to commit, then inserts nothing)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, Select, bindparam, delete, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.identity import user_from_row
from adapters.sql.tables import announcement_deliveries, announcements, email_unsubscribes, users
from adapters.sql.transaction import SqlTransaction
from domain.identity.announcement import Announcement, AnnouncementStatus, Audience
from domain.identity.model import User

deliveries = announcement_deliveries
_SENT = (
    select(func.count())
    .where(deliveries.c.announcement_id == announcements.c.id, deliveries.c.sent_at.is_not(None))
    .scalar_subquery()
    .label("sent")
)
_WITH_SENT = select(announcements, _SENT)
_GET = _WITH_SENT.where(announcements.c.id == bindparam("key"))
_ADD = insert(announcements)
_SET_STATUS = update(announcements).where(announcements.c.id == bindparam("key"))
_MARK_SENT = update(deliveries).where(
    deliveries.c.announcement_id == bindparam("aid"), deliveries.c.user_id == bindparam("uid")
)
_RELEASE = delete(deliveries).where(
    deliveries.c.announcement_id == bindparam("aid"),
    deliveries.c.user_id == bindparam("uid"),
    deliveries.c.sent_at.is_(None),
)
_USER_FOR_TOKEN = select(deliveries.c.user_id).where(deliveries.c.token_hash == bindparam("token_hash"))
_UNSUBSCRIBED = select(email_unsubscribes.c.user_id).where(email_unsubscribes.c.user_id == bindparam("user_id"))


def _audience(statement: Select[Any], audience: Audience) -> Select[Any]:
    statement = statement.where(
        users.c.email_verified_at.is_not(None),
        users.c.disabled_at.is_(None),
        users.c.deleted_at.is_(None),
        ~select(email_unsubscribes.c.user_id).where(email_unsubscribes.c.user_id == users.c.id).exists(),
    )
    if audience.plan is not None:
        statement = statement.where(users.c.plan == audience.plan)
    return statement


def _from_row(row: Row[Any]) -> Announcement:
    return Announcement(
        id=row.id,
        subject=row.subject,
        body_markdown=row.body_markdown,
        body_html=row.body_html,
        body_text=row.body_text,
        audience=Audience(row.audience),
        status=AnnouncementStatus(row.status),
        recipients=row.recipients,
        created_by=row.created_by,
        created_at=row.created_at,
        finished_at=row.finished_at,
        sent=row.sent,
    )


class SqlAnnouncementRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, announcement: Announcement) -> None:
        values = {
            "id": announcement.id,
            "subject": announcement.subject,
            "body_markdown": announcement.body_markdown,
            "body_html": announcement.body_html,
            "body_text": announcement.body_text,
            "audience": announcement.audience.value,
            "status": announcement.status.value,
            "recipients": announcement.recipients,
            "created_by": announcement.created_by,
            "created_at": announcement.created_at,
            "finished_at": announcement.finished_at,
        }
        await self._tx.execute(_ADD, values)

    async def get(self, announcement_id: UUID) -> Announcement | None:
        row = (await self._tx.read(_GET, {"key": announcement_id})).first()
        return None if row is None else _from_row(row)

    async def list(self, limit: int, before: tuple[datetime, UUID] | None = None) -> Sequence[Announcement]:
        statement = _WITH_SENT
        if before is not None:
            statement = statement.where(tuple_(announcements.c.created_at, announcements.c.id) < before)
        statement = statement.order_by(announcements.c.created_at.desc(), announcements.c.id.desc()).limit(limit)
        return [_from_row(row) for row in await self._tx.read(statement)]

    async def set_status(self, announcement_id: UUID, status: AnnouncementStatus, finished_at: datetime | None) -> None:
        await self._tx.execute(
            _SET_STATUS, {"key": announcement_id, "status": status.value, "finished_at": finished_at}
        )

    async def recipients(self, audience: Audience, after: UUID | None, limit: int) -> Sequence[User]:
        statement = _audience(select(users), audience)
        if after is not None:
            statement = statement.where(users.c.id > after)
        rows = await self._tx.read(statement.order_by(users.c.id).limit(limit))
        return [user_from_row(row) for row in rows]

    async def count_recipients(self, audience: Audience) -> int:
        return int((await self._tx.read(_audience(select(func.count()).select_from(users), audience))).scalar_one())


class SqlDeliveryRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def claim(self, announcement_id: UUID, user_id: UUID, token_hash: str, now: datetime) -> bool:
        values = {"announcement_id": announcement_id, "user_id": user_id, "token_hash": token_hash, "claimed_at": now}
        dialect_insert = postgresql.insert if self._tx.dialect == "postgresql" else sqlite.insert
        statement = (
            dialect_insert(deliveries)
            .values(values)
            .on_conflict_do_nothing(index_elements=["announcement_id", "user_id"])
        )
        result = await self._tx.execute(statement)
        return bool(result.rowcount)

    async def mark_sent(self, announcement_id: UUID, user_id: UUID, now: datetime) -> None:
        await self._tx.execute(_MARK_SENT, {"aid": announcement_id, "uid": user_id, "sent_at": now})

    async def release(self, announcement_id: UUID, user_id: UUID) -> None:
        await self._tx.execute(_RELEASE, {"aid": announcement_id, "uid": user_id})

    async def user_for_token(self, token_hash: str) -> UUID | None:
        row = (await self._tx.read(_USER_FOR_TOKEN, {"token_hash": token_hash})).first()
        return None if row is None else UUID(str(row.user_id))


class SqlUnsubscribeRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, user_id: UUID, now: datetime) -> None:
        dialect_insert = postgresql.insert if self._tx.dialect == "postgresql" else sqlite.insert
        statement = dialect_insert(email_unsubscribes).values(user_id=user_id, created_at=now)
        await self._tx.execute(statement.on_conflict_do_nothing(index_elements=["user_id"]))

    async def is_unsubscribed(self, user_id: UUID) -> bool:
        return (await self._tx.read(_UNSUBSCRIBED, {"user_id": user_id})).first() is not None
