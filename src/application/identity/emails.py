"""Job handlers that email a user. Emailed tokens are made here, at send time, so the raw secret is
never at rest anywhere (only its hash is stored)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from application.identity import topics
from application.identity.ports import IdentityUnitOfWork
from application.shared.ports import EmailMessage, EmailRenderer, Mailer, OutboxMessage
from domain.identity.model import OneTimeToken, TokenPurpose
from domain.identity.secrets import hash_secret, new_token
from domain.shared.clock import Clock
from domain.shared.ids import new_id

log = logging.getLogger("parley.email")


@dataclass(frozen=True, slots=True)
class IdentityEmail:
    template: str
    token_purpose: TokenPurpose | None = None
    link_path: str | None = None
    only_unverified: bool = False


IDENTITY_EMAILS = {
    topics.VERIFICATION_EMAIL: IdentityEmail("verify_email", TokenPurpose.VERIFY_EMAIL, "/verify-email", True),
    topics.PASSWORD_RESET_EMAIL: IdentityEmail("reset_password", TokenPurpose.RESET_PASSWORD, "/reset-password"),
    topics.ACCOUNT_EXISTS_EMAIL: IdentityEmail("account_exists", None, "/forgot-password"),
    topics.PASSWORD_CHANGED_EMAIL: IdentityEmail("password_changed"),
}


class SendIdentityEmail:
    """Handler for every topic in IDENTITY_EMAILS."""

    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        mailer: Mailer,
        renderer: EmailRenderer,
        clock: Clock,
        public_url: str,
        product_name: str = "Parley",
    ) -> None:
        self._uow_factory = uow_factory
        self._mailer = mailer
        self._renderer = renderer
        self._clock = clock
        self._public_url = public_url.rstrip("/")
        self._product_name = product_name

    async def __call__(self, message: OutboxMessage) -> None:
        spec = IDENTITY_EMAILS[message.topic]
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await uow.users.get(UUID(str(message.payload["user_id"])))
            if user is None or user.deleted or (spec.only_unverified and user.email_verified):
                log.info("email.skipped", extra={"topic": message.topic, "job_id": str(message.id)})
                return
            link = f"{self._public_url}{spec.link_path}" if spec.link_path else self._public_url
            if spec.token_purpose is not None:
                token = new_token()
                await uow.tokens.add(
                    OneTimeToken(
                        id=new_id(),
                        user_id=user.id,
                        purpose=spec.token_purpose,
                        token_hash=hash_secret(token),
                        created_at=now,
                        expires_at=now + spec.token_purpose.ttl,
                    )
                )
                link = f"{link}?token={token}"
            await uow.commit()  # the token is usable before the email that carries it leaves
        context = {
            "product": self._product_name,
            "name": user.name or user.email,
            "email": user.email,
            "link": link,
            "public_url": self._public_url,
        }
        subject, text, html = self._renderer.render(spec.template, context)
        await self._mailer.send(
            EmailMessage(to=user.email, subject=subject, text=text, html=html, message_id=str(message.id))
        )
        log.info("email.sent", extra={"topic": message.topic, "job_id": str(message.id), "user_id": str(user.id)})
