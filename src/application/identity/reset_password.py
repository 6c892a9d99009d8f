from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from application.identity.credentials import replace_password
from application.identity.ports import IdentityUnitOfWork
from domain.identity.errors import InvalidToken
from domain.identity.model import TokenPurpose, check_password
from domain.identity.ports import PasswordDenylist, PasswordHasher
from domain.identity.secrets import hash_secret
from domain.shared.clock import Clock

log = logging.getLogger("parley.auth")


@dataclass(frozen=True, slots=True)
class ResetPasswordRequest:
    token: str
    password: str


class ResetPassword:
    """Spend a reset token (single use, 1 h), set the new password, revoke every session of the user and
    every other reset link of theirs. No automatic sign-in: the user signs in with the new password. The
    link also proves the mailbox, so the address counts as verified."""

    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        hasher: PasswordHasher,
        denylist: PasswordDenylist,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._denylist = denylist
        self._clock = clock

    async def __call__(self, request: ResetPasswordRequest) -> None:
        check_password(request.password, self._denylist)
        now = self._clock.now()
        async with self._uow_factory() as uow:
            record = await uow.tokens.get_by_hash(TokenPurpose.RESET_PASSWORD, hash_secret(request.token))
            if record is None:
                raise InvalidToken()
            record.use(now)
            user = await uow.users.get(record.user_id)
            if user is None:
                raise InvalidToken()
            await uow.tokens.update(record)
            revoked = await replace_password(uow, user, await self._hasher.hash(request.password), now)
            user.verify_email(now)
            await uow.users.update(user)
            await uow.commit()
        log.info("auth.password_reset", extra={"user_id": str(user.id), "sessions_revoked": revoked})
