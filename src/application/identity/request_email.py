"""Resend-verification and forgot-password: both queue an email only when there is someone to send it
to, and answer the same either way."""

from __future__ import annotations

import logging
from collections.abc import Callable

from application.identity import topics
from application.identity.ports import IdentityUnitOfWork
from application.shared.ports import OutboxMessage
from domain.identity.model import normalize_email
from domain.shared.clock import Clock

log = logging.getLogger("parley.auth")


class ResendVerification:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, email: str) -> None:
        address = normalize_email(email)
        async with self._uow_factory() as uow:
            user = await uow.users.get_by_email(address)
            if user is not None and not user.email_verified:
                payload = {"user_id": str(user.id)}
                message = OutboxMessage(topic=topics.VERIFICATION_EMAIL, payload=payload, created_at=self._clock.now())
                await uow.outbox.add(message)
                await uow.commit()
                log.info("auth.verification_resent", extra={"user_id": str(user.id)})


class ForgotPassword:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, email: str) -> None:
        address = normalize_email(email)
        async with self._uow_factory() as uow:
            user = await uow.users.get_by_email(address)
            if user is not None:
                payload = {"user_id": str(user.id)}
                message = OutboxMessage(
                    topic=topics.PASSWORD_RESET_EMAIL, payload=payload, created_at=self._clock.now()
                )
                await uow.outbox.add(message)
                await uow.commit()
                log.info("auth.password_reset_requested", extra={"user_id": str(user.id)})
