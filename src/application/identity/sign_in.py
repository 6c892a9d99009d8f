from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from application.identity.credentials import open_session
from application.identity.dto import TokenPair
from application.identity.ports import IdentityUnitOfWork
from application.shared.facts import Fact, FactKind
from domain.identity.errors import AccountDisabled, InvalidCredentials
from domain.identity.model import normalize_email
from domain.identity.ports import PasswordHasher, TokenIssuer
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput

log = logging.getLogger("parley.auth")


@dataclass(frozen=True, slots=True)
class SignInRequest:
    email: str
    password: str


class SignIn:
    """Check the password and open a session. An unknown email costs the same hash check as a wrong
    password, so neither the answer nor its timing tells which it was."""

    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._issuer = issuer
        self._clock = clock
        self._decoy_hash: str | None = None
        """A hash no password matches, checked when the email is unknown (so that takes as long as a wrong
        password); made on first use, since hashing is awaited."""

    async def __call__(self, request: SignInRequest) -> TokenPair:
        try:
            email = normalize_email(request.email)
        except InvalidInput:
            await self._decoy(request.password)
            raise InvalidCredentials() from None
        # The password is checked outside any transaction: a check takes long, and holds no connection meanwhile.
        async with self._uow_factory() as uow:
            found = await uow.users.get_by_email(email)
        if found is None:
            await self._decoy(request.password)
            log.info("auth.signin.failed", extra={"reason": "unknown-email"})
            raise InvalidCredentials()
        if not await self._hasher.verify(found.password_hash, request.password):
            log.info("auth.signin.failed", extra={"user_id": str(found.id), "reason": "bad-password"})
            raise InvalidCredentials()
        rehashed = await self._hasher.hash(request.password) if self._hasher.needs_rehash(found.password_hash) else None
        async with self._uow_factory() as uow:
            user = await uow.users.get(found.id)  # as it is now: disabled or deleted in the meantime counts
            if user is None or user.password_hash != found.password_hash:
                raise InvalidCredentials()
            if user.disabled:
                log.info("auth.signin.failed", extra={"user_id": str(user.id), "reason": "disabled"})
                raise AccountDisabled()
            if rehashed is not None:
                user.password_hash = rehashed
                await uow.users.update(user)
            now = self._clock.now()
            session_id, pair = await open_session(uow, self._issuer, user, now)
            await uow.facts.record(Fact(kind=FactKind.USER_SIGNED_IN, occurred_at=now, user_id=user.id))
            await uow.commit()
        log.info("auth.signin", extra={"user_id": str(user.id), "session_id": str(session_id)})
        return pair

    async def _decoy(self, password: str) -> None:
        if self._decoy_hash is None:
            self._decoy_hash = await self._hasher.hash(secrets.token_urlsafe(16))
        await self._hasher.verify(self._decoy_hash, password)
