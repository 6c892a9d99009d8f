"""Billing's emails: queued through the outbox with their fields, sent by one job handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from application.billing import topics
from application.billing.ports import BillingUnitOfWork
from application.shared.ports import EmailMessage, EmailRenderer, Mailer, OutboxMessage
from domain.shared.clock import Clock

log = logging.getLogger("parley.billing")


async def queue_email(uow: BillingUnitOfWork, clock: Clock, user_id: UUID, template: str, **fields: Any) -> None:
    payload = {"template": template, "user_id": str(user_id), **fields}
    await uow.outbox.add(OutboxMessage(topic=topics.EMAIL, payload=payload, created_at=clock.now()))


class SendBillingEmail:
    def __init__(
        self,
        uow_factory: Callable[[], BillingUnitOfWork],
        mailer: Mailer,
        renderer: EmailRenderer,
        public_url: str,
        product_name: str = "Parley",
    ) -> None:
        self._uow_factory = uow_factory
        self._mailer = mailer
        self._renderer = renderer
        self._public_url = public_url.rstrip("/")
        self._product_name = product_name

    async def __call__(self, message: OutboxMessage) -> None:
        fields = dict(message.payload)
        template = str(fields.pop("template"))
        async with self._uow_factory() as uow:
            account = await uow.accounts.get(UUID(str(fields.pop("user_id"))))
        if account is None or account.deleted:
            return  # a deleted account has no address: an email queued before the deletion is dropped
        context = {
            "product": self._product_name,
            "name": account.name or account.email,
            "email": account.email,
            "public_url": self._public_url,
            "link": fields.pop("link", None) or f"{self._public_url}/billing",
            **fields,
        }
        subject, text, html = self._renderer.render(template, context)
        await self._mailer.send(
            EmailMessage(to=account.email, subject=subject, text=text, html=html, message_id=str(message.id))
        )
        log.info("email.sent", extra={"topic": message.topic, "template": template, "job_id": str(message.id)})


class SendQuotaWarning:
    """Serves conversation's threshold event: the 80% and 100% notices go out once per period."""

    def __init__(self, uow_factory: Callable[[], BillingUnitOfWork], clock: Clock, public_url: str) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._public_url = public_url.rstrip("/")

    async def __call__(self, message: OutboxMessage) -> None:
        payload = message.payload
        user_id = UUID(str(payload["user_id"]))
        period_start = datetime.fromisoformat(str(payload["period_start"]))
        threshold = int(payload["threshold"])
        async with self._uow_factory() as uow:
            if not await uow.quota_notices.add_once(user_id, period_start, threshold):
                return
            await queue_email(
                uow,
                self._clock,
                user_id,
                "quota_warning",
                threshold=threshold,
                quota=f"{int(payload['limit']):,}",
                plan=str(payload["plan"]),
                period_end=str(payload["period_end"])[:10],
                link=f"{self._public_url}/billing/plans",
            )
            await uow.commit()
