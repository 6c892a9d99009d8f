"""Bearer tokens as JWTs (pyjwt): HS256 pinned, exp/iat/aud/iss/typ required, key rotation by `kid`.

The current key signs; old keys (PARLEY_SECRET_KEYS_OLD) still verify until their tokens expire.
jku/jwk/x5u headers are ignored: a key is only ever picked from the configured ones by `kid`."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import jwt

from domain.identity.errors import Unauthenticated
from domain.identity.model import Role
from domain.identity.ports import AccessClaims, RefreshClaims
from domain.shared.ids import new_id

ALGORITHM = "HS256"
REQUIRED = ["exp", "iat", "aud", "iss", "sub", "typ", "sid", "jti"]


def key_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class JwtTokenIssuer:
    def __init__(
        self,
        secret: str,
        old_secrets: Sequence[str] = (),
        *,
        issuer: str = "parley",
        audience: str = "parley-api",
        access_ttl_seconds: int = 900,
        refresh_ttl_seconds: int = 30 * 24 * 3600,
    ) -> None:
        if len(secret.encode()) < 32:
            raise ValueError("PARLEY_SECRET_KEY must be at least 32 bytes (256 bits)")
        self._current = (key_id(secret), secret)
        self._keys = {key_id(s): s for s in [secret, *old_secrets] if s}
        self._issuer = issuer
        self._audience = audience
        self.access_ttl_seconds = access_ttl_seconds
        self.refresh_ttl_seconds = refresh_ttl_seconds

    def issue_access(self, user_id: UUID, session_id: UUID, role: Role) -> str:
        return self._encode("access", user_id, session_id, self.access_ttl_seconds, {"role": role.value})

    def issue_refresh(self, user_id: UUID, session_id: UUID) -> str:
        return self._encode("refresh", user_id, session_id, self.refresh_ttl_seconds, {})

    def decode_access(self, token: str) -> AccessClaims:
        claims = self._decode(token, "access")
        try:
            role = Role(claims["role"])
        except (KeyError, ValueError):
            raise Unauthenticated() from None
        return AccessClaims(user_id=_uuid(claims["sub"]), session_id=_uuid(claims["sid"]), role=role)

    def decode_refresh(self, token: str) -> RefreshClaims:
        claims = self._decode(token, "refresh")
        return RefreshClaims(user_id=_uuid(claims["sub"]), session_id=_uuid(claims["sid"]))

    def _encode(self, typ: str, user_id: UUID, session_id: UUID, ttl: int, extra: dict[str, Any]) -> str:
        now = int(time.time())
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(session_id),
            "typ": typ,
            "jti": str(new_id()),
            "iat": now,
            "exp": now + ttl,
            **extra,
        }
        kid, secret = self._current
        return jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})

    def _decode(self, token: str, typ: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            secret = self._keys.get(str(header.get("kid", "")))
            if secret is None or header.get("alg") != ALGORITHM:
                raise Unauthenticated()
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": REQUIRED},
            )
        except jwt.PyJWTError:
            raise Unauthenticated() from None
        if claims.get("typ") != typ:
            raise Unauthenticated()
        return claims


def _uuid(value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise Unauthenticated() from None
