from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from application.identity.credentials import discard_links, require_session, revoke_sessions, user_proving_password
from application.identity.dto import Principal
from application.identity.ports import IdentityUnitOfWork
from application.shared import topics
from application.shared.ports import OutboxMessage
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
        require_session(principal, "delete your account")
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await user_proving_password(uow, self._hasher, principal, request.password, "account_delete")
            revoked = await revoke_sessions(uow, user.id, now)
            for key in await uow.api_keys.list_for_user(user.id):
                key.revoke(now)
                await uow.api_keys.update(key)
            for purpose in TokenPurpose:
                await discard_links(uow, user.id, purpose, now)
            user.erase(now)
            await uow.users.update(user)
            payload = {"user_id": str(user.id)}
            await uow.outbox.add(OutboxMessage(topic=topics.ACCOUNT_DELETED, payload=payload, created_at=now))
            await uow.commit()
        log.info("auth.account_deleted", extra={"user_id": str(user.id), "sessions_revoked": revoked})
