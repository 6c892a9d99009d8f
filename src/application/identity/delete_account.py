from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from application.identity.dto import Principal
from application.identity.ports import IdentityUnitOfWork
from application.shared import topics
from application.shared.ports import OutboxMessage
from domain.identity.errors import Forbidden, InvalidCredentials, Unauthenticated
from domain.identity.model import TokenPurpose
from domain.identity.ports import PasswordHasher
from domain.shared.clock import Clock

log = logging.getLogger("parley.auth")


@dataclass(frozen=True, slots=True)
class DeleteAccountRequest:
    password: str


class DeleteAccount:
    """The signed-in user deletes their account, proving their password. In one transaction: every session and
    API key revoked (their next request is refused), every emailed link discarded, the address and name erased
    (the address may sign up again), the account marked deleted, and `topics.ACCOUNT_DELETED` written for the
    other contexts (conversation erases the conversations, billing cancels a paid subscription at once). An API
    key cannot do it (Forbidden). A wrong password changes nothing."""

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], hasher: PasswordHasher, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._clock = clock

    async def __call__(self, principal: Principal, request: DeleteAccountRequest) -> None:
        if principal.session_id is None:
            raise Forbidden("Sign in with your password to delete your account; an API key cannot.")
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await uow.users.get(principal.user.id)
            if user is None or user.deleted:
                raise Unauthenticated()
            if not self._hasher.verify(user.password_hash, request.password):
                log.info("auth.account_delete.failed", extra={"user_id": str(user.id), "reason": "bad-password"})
                raise InvalidCredentials("The password is incorrect.")
            sessions = await uow.sessions.list_active_for_user(user.id)
            for session in sessions:
                session.revoke(now)
                await uow.sessions.update(session)
            for key in await uow.api_keys.list_for_user(user.id):
                key.revoke(now)
                await uow.api_keys.update(key)
            for purpose in TokenPurpose:
                for link in await uow.tokens.list_unused_for_user(user.id, purpose):
                    link.discard(now)
                    await uow.tokens.update(link)
            user.erase(now)
            await uow.users.update(user)
            payload = {"user_id": str(user.id)}
            await uow.outbox.add(OutboxMessage(topic=topics.ACCOUNT_DELETED, payload=payload, created_at=now))
            await uow.commit()
        log.info("auth.account_deleted", extra={"user_id": str(user.id), "sessions_revoked": len(sessions)})
