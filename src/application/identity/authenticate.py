from __future__ import annotations

from collections.abc import Callable

from application.identity.dto import Principal
from application.identity.ports import IdentityUnitOfWork
from domain.identity.errors import Unauthenticated
from domain.identity.ports import TokenIssuer
from domain.identity.secrets import hash_secret, looks_like_api_key
from domain.shared.clock import Clock


class Authenticate:
    """Turn a bearer credential (an access token or an API key) into the calling user. A token whose
    session was revoked (sign-out, reuse, password reset) or a revoked key is refused at once."""

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], issuer: TokenIssuer, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._issuer = issuer
        self._clock = clock

    async def __call__(self, credential: str) -> Principal:
        if looks_like_api_key(credential):
            return await self._by_api_key(credential)
        claims = self._issuer.decode_access(credential)
        async with self._uow_factory() as uow:
            found = await uow.sessions.get_with_user(claims.session_id)
        if found is None:
            raise Unauthenticated()
        session, user = found
        if session.user_id != claims.user_id or not session.is_active(self._clock.now()):
            raise Unauthenticated()
        return Principal(user=user, session_id=session.id)

    async def _by_api_key(self, credential: str) -> Principal:
        async with self._uow_factory() as uow:
            found = await uow.api_keys.get_with_owner(hash_secret(credential))
        if found is None or found[0].revoked_at is not None:
            raise Unauthenticated()
        key, user = found
        return Principal(user=user, api_key_id=key.id)
