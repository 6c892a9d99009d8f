from __future__ import annotations

import logging
from collections.abc import Callable

from application.identity.dto import Principal
from application.identity.ports import IdentityUnitOfWork
from domain.identity.errors import Unauthenticated
from domain.identity.ports import TokenIssuer
from domain.shared.clock import Clock

log = logging.getLogger("parley.auth")


class SignOut:
    """Revoke the caller's session (and the one a given refresh token belongs to, if it is the
    caller's): its access and refresh tokens answer 401 from then on."""

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], issuer: TokenIssuer, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._issuer = issuer
        self._clock = clock

    async def __call__(self, principal: Principal, refresh_token: str | None = None) -> None:
        session_ids = {principal.session_id} if principal.session_id else set()
        if refresh_token:
            try:
                claims = self._issuer.decode_refresh(refresh_token)
            except Unauthenticated:
                claims = None
            if claims is not None and claims.user_id == principal.user.id:
                session_ids.add(claims.session_id)
        now = self._clock.now()
        async with self._uow_factory() as uow:
            for session_id in session_ids:
                session = await uow.sessions.get(session_id)
                if session is not None and session.user_id == principal.user.id:
                    session.revoke(now)
                    await uow.sessions.update(session)
            await uow.commit()
        log.info("auth.signout", extra={"user_id": str(principal.user.id), "sessions": len(session_ids)})
