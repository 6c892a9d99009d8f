"""Resend-verification and forgot-password: both queue an email only when there is someone to send it
to, and answer the same either way."""

from __future__ import annotations

import logging
from collections.abc import Callable

from application.identity import topics
from application.identity.ports import IdentityUnitOfWork
from application.shared.ports import OutboxMessage
from domain.identity.model import User, normalize_email
from domain.shared.clock import Clock

log = logging.getLogger("parley.auth")


class _AccountEmailRequest:
    topic: str
    event: str

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    def _wanted(self, user: User) -> bool:
        return True

    async def __call__(self, email: str) -> None:
        address = normalize_email(email)
        async with self._uow_factory() as uow:
            user = await uow.users.get_by_email(address)
            if user is not None and self._wanted(user):
                payload = {"user_id": str(user.id)}
                await uow.outbox.add(OutboxMessage(topic=self.topic, payload=payload, created_at=self._clock.now()))
                await uow.commit()
                log.info(self.event, extra={"user_id": str(user.id)})


class ResendVerification(_AccountEmailRequest):
    topic = topics.VERIFICATION_EMAIL
    event = "auth.verification_resent"

    def _wanted(self, user: User) -> bool:
        return not user.email_verified


class ForgotPassword(_AccountEmailRequest):
    topic = topics.PASSWORD_RESET_EMAIL
    event = "auth.password_reset_requested"
