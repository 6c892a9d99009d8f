"""Unsubscribe(token): the link in every announcement (`/unsubscribe?token=T`, RFC 8058 one-click POST, or
POST /api/email/unsubscribe). The user gets no more announcements; account and billing emails still go out.
A token works as often as it is used (a mail client's one-click and the user's own click may both arrive)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from application.identity.ports import IdentityUnitOfWork
from domain.identity.errors import InvalidToken
from domain.identity.secrets import hash_secret
from domain.shared.clock import Clock

log = logging.getLogger("parley.email")
TOKEN_MAX_LENGTH = 512


class Unsubscribe:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, token: str) -> None:
        if not token or len(token) > TOKEN_MAX_LENGTH:
            raise InvalidToken("This unsubscribe link is not valid.")
        async with self._uow_factory() as uow:
            user_id = await uow.deliveries.user_for_token(hash_secret(token))
            if user_id is None:
                raise InvalidToken("This unsubscribe link is not valid.")
            await uow.unsubscribes.add(user_id, self._clock.now())
            await uow.commit()
        log.info("email.unsubscribed", extra={"user_id": str(user_id)})
