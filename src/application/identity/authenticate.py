from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from uuid import UUID

from application.identity.dto import Principal
from application.identity.ports import IdentityUnitOfWork
from domain.identity.errors import Unauthenticated
from domain.identity.model import ApiKey, Session, User
from domain.identity.ports import TokenIssuer
from domain.identity.secrets import hash_secret, looks_like_api_key
from domain.shared.clock import Clock


class PrincipalLookup(Protocol):
    """The one read every authenticated request makes, as its own port: a store may answer it more cheaply than
    a unit of work (one statement, no transaction)."""

    async def session_with_user(self, session_id: UUID) -> tuple[Session, User] | None: ...
    async def api_key_with_owner(self, key_hash: str) -> tuple[ApiKey, User] | None: ...


class UnitOfWorkPrincipals:
    """PrincipalLookup through a unit of work (the in-memory store's, and the default)."""

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def session_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        async with self._uow_factory() as uow:
            return await uow.sessions.get_with_user(session_id)

    async def api_key_with_owner(self, key_hash: str) -> tuple[ApiKey, User] | None:
        async with self._uow_factory() as uow:
            return await uow.api_keys.get_with_owner(key_hash)


class Authenticate:
    """Turn a bearer credential (an access token or an API key) into the calling user. A token whose
    session was revoked (sign-out, reuse, password reset) or a revoked key is refused at once, and so is any
    credential of a disabled account."""

    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        issuer: TokenIssuer,
        clock: Clock,
        principals: PrincipalLookup | None = None,
    ) -> None:
        self._principals = principals or UnitOfWorkPrincipals(uow_factory)
        self._issuer = issuer
        self._clock = clock

    async def __call__(self, credential: str) -> Principal:
        if looks_like_api_key(credential):
            return await self._by_api_key(credential)
        claims = self._issuer.decode_access(credential)
        found = await self._principals.session_with_user(claims.session_id)
        if found is None:
            raise Unauthenticated()
        session, user = found
        if session.user_id != claims.user_id or not session.is_active(self._clock.now()) or user.disabled:
            raise Unauthenticated()
        return Principal(user=user, session_id=session.id)

    async def _by_api_key(self, credential: str) -> Principal:
        found = await self._principals.api_key_with_owner(hash_secret(credential))
        if found is None or found[0].revoked_at is not None or found[1].disabled:
            raise Unauthenticated()
        key, user = found
        return Principal(user=user, api_key_id=key.id)
