from __future__ import annotations

import logging
from collections.abc import Callable

from application.identity.ports import IdentityUnitOfWork
from application.shared.facts import Fact, FactKind, fact_id
from domain.identity.errors import InvalidToken
from domain.identity.model import TokenPurpose, User
from domain.identity.secrets import hash_secret
from domain.shared.clock import Clock

log = logging.getLogger("parley.auth")


class VerifyEmail:
    """Spend a verification token (single use, 24 h) and mark the address verified."""

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, token: str) -> User:
        now = self._clock.now()
        async with self._uow_factory() as uow:
            record = await uow.tokens.get_by_hash(TokenPurpose.VERIFY_EMAIL, hash_secret(token))
            if record is None:
                raise InvalidToken()
            record.use(now)
            user = await uow.users.get(record.user_id)
            if user is None:
                raise InvalidToken()
            first = user.email_verified_at is None
            user.verify_email(now)
            await uow.tokens.update(record)
            await uow.users.update(user)
            if first:
                kind = FactKind.USER_VERIFIED
                await uow.facts.record(
                    Fact(id=fact_id(kind, str(user.id)), kind=kind, occurred_at=now, user_id=user.id)
                )
            await uow.commit()
        log.info("auth.email_verified", extra={"user_id": str(user.id)})
        return user
