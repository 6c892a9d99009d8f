"""Browser sessions on the identity use cases the API uses: sign-in's access and refresh tokens live in two
HttpOnly cookies; a page whose access token has expired is answered after a server-side refresh, and the
rotated pair goes back in the cookies."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass

from application.identity.dto import Principal
from application.shared.ports import Cache
from domain.identity.errors import AccountDisabled, Unauthenticated
from entrypoints.bootstrap import IdentityUseCases

log = logging.getLogger("parley.web")
REFRESH_MEMO_SECONDS = 30
_LOCK_STRIPES = 64


@dataclass(frozen=True, slots=True)
class WebTokens:
    access_token: str
    refresh_token: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    principal: Principal
    access_token: str
    rotated: WebTokens | None = None
    """The new pair when this request refreshed the session: the response must store it in the cookies."""


class WebSessions:
    """A refresh token works once (a second use revokes the session), yet a browser may send the same expired
    cookies on several requests at once (a page and its script, two tabs). So the outcome of a rotation is
    remembered for a few seconds in the shared cache, keyed by a digest of the spent token, and requests that
    bring the same token get the same new pair instead of a second rotation."""

    def __init__(self, identity: IdentityUseCases, cache: Cache) -> None:
        self._identity = identity
        self._cache = cache
        self._locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]

    async def resolve(self, access_token: str | None, refresh_token: str | None) -> SignedIn | None:
        if access_token:
            principal = await self._authenticate(access_token)
            if principal is not None:
                return SignedIn(principal, access_token)
        if not refresh_token:
            return None
        tokens = await self._rotate(refresh_token)
        if tokens is None:
            return None
        principal = await self._authenticate(tokens.access_token)
        return SignedIn(principal, tokens.access_token, tokens) if principal is not None else None

    async def _authenticate(self, access_token: str) -> Principal | None:
        try:
            principal = await self._identity.authenticate(access_token)
        except (Unauthenticated, AccountDisabled):
            return None
        # Only a session's access token opens a browser session, never an API key put in the cookie.
        return principal if principal.session_id is not None else None

    async def _rotate(self, refresh_token: str) -> WebTokens | None:
        digest = hashlib.sha256(refresh_token.encode()).hexdigest()
        key = f"web:refresh:{digest}"
        async with self._locks[int(digest[:8], 16) % _LOCK_STRIPES]:
            remembered = await self._remembered(key)
            if remembered is not None:
                return remembered
            try:
                pair = await self._identity.refresh(refresh_token)
            except (Unauthenticated, AccountDisabled):
                return None
            tokens = WebTokens(pair.access_token, pair.refresh_token)
            try:
                value = json.dumps([tokens.access_token, tokens.refresh_token]).encode()
                await self._cache.set(key, value, REFRESH_MEMO_SECONDS)
            except Exception:  # the cache down costs only the protection against a concurrent rotation
                log.warning("web.refresh_memo_unavailable", exc_info=True)
            return tokens

    async def _remembered(self, key: str) -> WebTokens | None:
        try:
            value = await self._cache.get(key)
        except Exception:
            log.warning("web.refresh_memo_unavailable", exc_info=True)
            return None
        if value is None:
            return None
        access, refresh = json.loads(value)
        return WebTokens(access, refresh)
