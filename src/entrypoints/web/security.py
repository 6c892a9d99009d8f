"""What keeps the pages safe: the session and CSRF cookies, the signed double-submit CSRF token, and the
headers every page carries (a Content-Security-Policy without inline scripts above all)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from litestar.datastructures import Cookie

ACCESS_COOKIE = "parley_access"
REFRESH_COOKIE = "parley_refresh"
CSRF_COOKIE = "parley_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def content_security_policy(
    *, connect: tuple[str, ...] = (), script: tuple[str, ...] = (), frame: tuple[str, ...] = ()
) -> str:
    """The one policy of every page. Only two pages widen it: /admin adds its own origin's `ws(s)://` URL to
    `connect-src` (the live counters), and /billing with Stripe.js adds Stripe's script, frame and API origins.
    Without `frame`, frames fall back to `default-src 'self'`."""
    script_src = " ".join(("'self'", *script))
    connect_src = " ".join(("'self'", *connect))
    frame_src = f"frame-src {' '.join(frame)}; " if frame else ""
    return (
        f"default-src 'self'; script-src {script_src}; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect_src}; {frame_src}font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


CONTENT_SECURITY_POLICY = content_security_policy()
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class CsrfRefused(Exception):
    """A state-changing web request without a valid CSRF token: 403, nothing changed."""


class CsrfTokens:
    """Signed double-submit: the browser holds a random nonce in an HttpOnly cookie; pages embed
    HMAC(key, nonce) in every form and in a meta tag the scripts send back as X-CSRF-Token. Another site can
    neither read the page nor compute the HMAC, so it cannot forge a matching pair."""

    def __init__(self, secret_key: str) -> None:
        self._key = hashlib.sha256(b"parley-web-csrf\x00" + secret_key.encode()).digest()

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(32)

    def token_for(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def check(self, nonce: str | None, submitted: str | None) -> None:
        if not nonce or not submitted or not hmac.compare_digest(self.token_for(nonce), submitted):
            raise CsrfRefused()


def cookie(name: str, value: str, *, secure: bool, max_age: int) -> Cookie:
    return Cookie(key=name, value=value, path="/", httponly=True, samesite="lax", secure=secure, max_age=max_age)


def expired(name: str, *, secure: bool) -> Cookie:
    return Cookie(key=name, value="", path="/", httponly=True, samesite="lax", secure=secure, max_age=0)
