from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from application.identity.credentials import open_session, replace_password, require_session, user_proving_password
from application.identity.dto import Principal, TokenPair
from application.identity.ports import IdentityUnitOfWork
from domain.identity.model import check_password
from domain.identity.ports import PasswordDenylist, PasswordHasher, TokenIssuer
from domain.shared.clock import Clock

log = logging.getLogger("parley.auth")


@dataclass(frozen=True, slots=True)
class ChangePasswordRequest:
    current_password: str
    new_password: str


class ChangePassword:
    """A signed-in user replaces their password, proving the current one. Every session of theirs is revoked
    (the calling one too) and a new session is opened in the same transaction: its pair is the answer. The owner
    is emailed. An API key cannot do it (Forbidden): changing the password needs a signed-in session. A wrong
    current password changes nothing."""

    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        hasher: PasswordHasher,
        denylist: PasswordDenylist,
        issuer: TokenIssuer,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._denylist = denylist
        self._issuer = issuer
        self._clock = clock

    async def __call__(self, principal: Principal, request: ChangePasswordRequest) -> TokenPair:
        require_session(principal, "change it")
        check_password(request.new_password, self._denylist, field="new_password")
        now = self._clock.now()
        async with self._uow_factory() as uow:
            current, refusal = request.current_password, "The current password is incorrect."
            user = await user_proving_password(uow, self._hasher, principal, current, "password_change", refusal)
            revoked = await replace_password(uow, user, await self._hasher.hash(request.new_password), now)
            await uow.users.update(user)
            session_id, pair = await open_session(uow, self._issuer, user, now)
            await uow.commit()
        log.info(
            "auth.password_changed",
            extra={"user_id": str(user.id), "session_id": str(session_id), "sessions_revoked": revoked},
        )
        return pair
