from __future__ import annotations

import logging
from collections.abc import Callable

from application.identity.dto import TokenPair
from application.identity.ports import IdentityUnitOfWork
from domain.identity.errors import Unauthenticated
from domain.identity.ports import TokenIssuer
from domain.identity.secrets import hash_secret
from domain.shared.clock import Clock

log = logging.getLogger("parley.auth")


class RefreshSession:
    """Trade the session's current refresh token for a new pair (rotation). Presenting any earlier
    token of the family is reuse: the whole session is revoked, access tokens included."""

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], issuer: TokenIssuer, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._issuer = issuer
        self._clock = clock

    async def __call__(self, refresh_token: str) -> TokenPair:
        claims = self._issuer.decode_refresh(refresh_token)
        now = self._clock.now()
        async with self._uow_factory() as uow:
            session = await uow.sessions.get(claims.session_id)
            if session is None or session.user_id != claims.user_id or not session.is_active(now):
                raise Unauthenticated()
            if session.refresh_token_hash != hash_secret(refresh_token):
                session.revoke(now)
                await uow.sessions.update(session)
                await uow.commit()
                log.warning(
                    "auth.refresh.reuse_detected",
                    extra={"user_id": str(session.user_id), "session_id": str(session.id)},
                )
                raise Unauthenticated()
            user = await uow.users.get(session.user_id)
            if user is None:
                raise Unauthenticated()
            new_refresh = self._issuer.issue_refresh(user.id, session.id)
            session.rotate(hash_secret(new_refresh), now)
            await uow.sessions.update(session)
            await uow.commit()
        log.info("auth.refresh", extra={"user_id": str(user.id), "session_id": str(session.id)})
        access = self._issuer.issue_access(user.id, session.id, user.role)
        return TokenPair(access, new_refresh, self._issuer.access_ttl_seconds, user)
