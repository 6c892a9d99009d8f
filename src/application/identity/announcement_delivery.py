"""Sending an announcement: the handler of `identity.announcement_batch`, run by the job runner.

A job sends one batch: the next BATCH_SIZE recipients by id after the previous batch's last. In order:
1. claim a delivery row per recipient, in one committed transaction (INSERT ... ON CONFLICT DO NOTHING on
   the (announcement, user) key): only the claims this job won are its to send, so a retried job, a job
   delivered twice, or two workers on the same batch never email anyone twice;
2. send each claimed email, marking it sent as soon as it went; a send that fails gives back that claim and
   the claims not yet sent (so the retried job sends them) and fails the job;
3. queue the next batch (its outbox id is derived from the announcement and the last recipient, so a retried
   job cannot queue it twice), or, after the last batch, mark the announcement sent.
A worker that dies between a send and its mark leaves the claim taken: that recipient is not emailed again
(at most once, never twice). Each email carries a fresh unsubscribe token (only its hash is stored, on the
delivery) in its List-Unsubscribe headers (RFC 8058 one-click) and in its body."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from uuid import UUID

from application.identity import topics
from application.identity.ports import IdentityUnitOfWork
from application.shared.ports import EmailMessage, EmailRenderer, Mailer, OutboxMessage
from domain.identity.announcement import Announcement, AnnouncementStatus
from domain.identity.model import User
from domain.identity.secrets import hash_secret, new_token
from domain.shared.clock import Clock
from domain.shared.errors import Conflict

log = logging.getLogger("parley.email")
BATCH_SIZE = 100
TEMPLATE = "announcement"
NEXT_BATCH_NAMESPACE = uuid.UUID("6f1c4f4e-7c1a-4d55-9b7e-2d1f0a5e8c33")


class SendAnnouncementBatch:
    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        mailer: Mailer,
        renderer: EmailRenderer,
        clock: Clock,
        public_url: str,
        product_name: str = "Parley",
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._uow_factory = uow_factory
        self._mailer = mailer
        self._renderer = renderer
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self._product_name = product_name
        self._batch_size = batch_size

    async def __call__(self, message: OutboxMessage) -> None:
        announcement_id = UUID(str(message.payload["announcement_id"]))
        after = message.payload.get("after")
        after_id = None if after is None else UUID(str(after))
        async with self._uow_factory() as uow:
            announcement = await uow.announcements.get(announcement_id)
            if announcement is None or announcement.status is AnnouncementStatus.SENT:
                return
            recipients = await uow.announcements.recipients(announcement.audience, after_id, self._batch_size)
            if announcement.status is AnnouncementStatus.QUEUED:
                await uow.announcements.set_status(announcement_id, AnnouncementStatus.SENDING, None)
                await uow.commit()
        tokens = await self._claim(announcement_id, recipients)
        await self._send(announcement, recipients, tokens)
        if len(recipients) == self._batch_size:
            await self._queue_next(announcement_id, recipients[-1].id)
        else:
            async with self._uow_factory() as uow:
                await uow.announcements.set_status(announcement_id, AnnouncementStatus.SENT, self._clock.now())
                await uow.commit()
            log.info("announcement.sent", extra={"announcement_id": str(announcement_id)})

    async def _claim(self, announcement_id: UUID, recipients: Sequence[User]) -> dict[UUID, str]:
        """The recipients this job won, each with the raw unsubscribe token its email carries."""
        now = self._clock.now()
        won: dict[UUID, str] = {}
        async with self._uow_factory() as uow:
            for user in recipients:
                token = new_token()
                if await uow.deliveries.claim(announcement_id, user.id, hash_secret(token), now):
                    won[user.id] = token
            await uow.commit()
        return won

    async def _send(self, announcement: Announcement, recipients: Sequence[User], tokens: dict[UUID, str]) -> None:
        claimed = [user for user in recipients if user.id in tokens]
        for index, user in enumerate(claimed):
            try:
                await self._mailer.send(self._email(announcement, user, tokens[user.id]))
            except Exception:  # the mailer says this one did not go: it and the rest are the retry's to send
                await self._release(announcement.id, claimed[index:])
                raise
            except BaseException:  # cancelled mid-send: this one may have gone, so it stays taken
                await self._release(announcement.id, claimed[index + 1 :])
                raise
            async with self._uow_factory() as uow:
                await uow.deliveries.mark_sent(announcement.id, user.id, self._clock.now())
                await uow.commit()

    async def _release(self, announcement_id: UUID, unsent: Sequence[User]) -> None:
        async with self._uow_factory() as uow:
            for user in unsent:
                await uow.deliveries.release(announcement_id, user.id)
            await uow.commit()

    def _email(self, announcement: Announcement, user: User, token: str) -> EmailMessage:
        unsubscribe = f"{self._public_url}/unsubscribe?token={token}"
        context = {
            "product": self._product_name,
            "name": user.name or user.email,
            "email": user.email,
            "subject": announcement.subject,
            "body_html": announcement.body_html,
            "body_text": announcement.body_text,
            "unsubscribe_url": unsubscribe,
            "public_url": self._public_url,
        }
        subject, text, html = self._renderer.render(TEMPLATE, context)
        headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        message_id = f"announcement-{announcement.id}-{user.id}"
        return EmailMessage(
            to=user.email, subject=subject, text=text, html=html, message_id=message_id, headers=headers
        )

    async def _queue_next(self, announcement_id: UUID, last_id: UUID) -> None:
        payload = {"announcement_id": str(announcement_id), "after": str(last_id)}
        next_id = uuid.uuid5(NEXT_BATCH_NAMESPACE, f"{announcement_id}:{last_id}")
        now = self._clock.now()
        try:
            async with self._uow_factory() as uow:
                if await uow.outbox.get(next_id) is None:
                    message = OutboxMessage(
                        id=next_id, topic=topics.ANNOUNCEMENT_BATCH, payload=payload, created_at=now
                    )
                    await uow.outbox.add(message)
                    await uow.commit()
        except Conflict:  # queued meanwhile by a twin of this job
            pass
