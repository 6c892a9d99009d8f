"""What every web handler works with: `WebState` (built once per app: sessions, CSRF, templates) and `Visit`
(one per request: who is signed in, the CSRF nonce, and the cookies the response must carry)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.datastructures import Cookie, State

from application.identity.dto import Principal
from domain.identity.model import User
from entrypoints.bootstrap import Container
from entrypoints.settings import Settings
from entrypoints.web.assets import static_url
from entrypoints.web.security import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    PAGE_HEADERS,
    REFRESH_COOKIE,
    CsrfTokens,
    cookie,
    expired,
)
from entrypoints.web.sessions import SignedIn, WebSessions, WebTokens
from entrypoints.web.stripe_js import StripeJs, stripe_js

TEMPLATES = Path(__file__).parent / "templates"
CSRF_COOKIE_SECONDS = 30 * 24 * 3600


class SignInRequired(Exception):
    """A signed-in page opened without a (live) session: the browser is sent to /signin."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def money(cents: int, currency: str = "usd") -> str:
    symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(currency.lower())
    amount = f"{cents // 100:,}.{cents % 100:02d}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static"] = static_url
    env.filters["money"] = money
    env.filters["number"] = lambda value: f"{int(value):,}"
    env.filters["day"] = lambda value: value.strftime("%Y-%m-%d") if value else ""
    env.filters["when"] = lambda value: value.strftime("%Y-%m-%d %H:%M UTC") if value else ""
    return env


class WebState:
    def __init__(self, container: Container) -> None:
        self.container = container
        self.settings: Settings = container.settings
        self.sessions = WebSessions(container.identity, container.cache)
        self.csrf = CsrfTokens(container.settings.resolved_secret_key())
        self.templates = _environment()
        self.https_only = self.settings.public_url.startswith("https://")
        self.stripe_js: StripeJs | None = stripe_js(self.settings)


@dataclass
class Visit:
    """One request to the web client."""

    request: Request[Any, Any, Any]
    web: WebState
    nonce: str
    signed_in: SignedIn | None
    new_nonce: bool = False
    cookies: list[Cookie] = field(default_factory=list)
    clear_session: bool = False

    @property
    def secure(self) -> bool:
        return self.web.https_only or self.request.url.scheme == "https"

    @property
    def user(self) -> User | None:
        return self.signed_in.principal.user if self.signed_in else None

    def require(self) -> Principal:
        if self.signed_in is None:
            raise SignInRequired(self.request.url.path)
        return self.signed_in.principal

    @property
    def csrf_token(self) -> str:
        return self.web.csrf.token_for(self.nonce)

    async def form(self) -> dict[str, str]:
        """The submitted form (urlencoded or multipart), after its CSRF token is checked."""
        data = await self.request.form()
        fields = {key: value for key, value in data.items() if isinstance(value, str)}
        self.web.csrf.check(self.request.cookies.get(CSRF_COOKIE), fields.pop(CSRF_FIELD, None))
        return fields

    def check_header(self) -> None:
        """For fetch() calls: the token comes in the X-CSRF-Token header."""
        self.web.csrf.check(self.request.cookies.get(CSRF_COOKIE), self.request.headers.get(CSRF_HEADER))

    def start_session(self, access_token: str, refresh_token: str) -> None:
        self._store(WebTokens(access_token, refresh_token))

    def end_session(self) -> None:
        self.clear_session = True

    def _store(self, tokens: WebTokens) -> None:
        lifetime = self.web.settings.refresh_token_ttl_seconds
        self.cookies.append(cookie(ACCESS_COOKIE, tokens.access_token, secure=self.secure, max_age=lifetime))
        self.cookies.append(cookie(REFRESH_COOKIE, tokens.refresh_token, secure=self.secure, max_age=lifetime))

    def _finish(self, response: Response[Any]) -> Response[Any]:
        cookies = list(self.cookies)
        if self.new_nonce:
            cookies.append(cookie(CSRF_COOKIE, self.nonce, secure=self.secure, max_age=CSRF_COOKIE_SECONDS))
        if self.signed_in and self.signed_in.rotated and not self.clear_session and not self.cookies:
            self._store(self.signed_in.rotated)
            cookies = [*self.cookies, *cookies]
        if self.clear_session:
            cookies += [expired(ACCESS_COOKIE, secure=self.secure), expired(REFRESH_COOKIE, secure=self.secure)]
        for item in cookies:
            response.set_cookie(item)
        for name, value in PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def render(self, template: str, *, status: int = 200, **context: Any) -> Response[Any]:
        user = None if self.clear_session else self.user
        html = self.web.templates.get_template(template).render(
            user=user, csrf_token=self.csrf_token, csrf_field=CSRF_FIELD, path=self.request.url.path, **context
        )
        return self._finish(Response(html, status_code=status, media_type="text/html"))

    def redirect(self, location: str) -> Response[Any]:
        return self._finish(Response(b"", status_code=303, headers={"Location": location}))

    def json(self, body: Any, *, status: int = 200) -> Response[Any]:
        return self._finish(Response(body, status_code=status))


def safe_next(value: str | None, default: str = "/chat") -> str:
    """Only a path on this site: `/chat/...`, never `//evil.example` or `https://...`."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return default


def signin_url(next_path: str) -> str:
    return f"/signin?next={quote(next_path, safe='/')}"


def web_state(state: State) -> WebState:
    web: WebState = state.web
    return web


async def provide_visit(request: Request[Any, Any, Any], state: State) -> Visit:
    web = web_state(state)
    nonce = request.cookies.get(CSRF_COOKIE)
    fresh = not nonce or len(nonce) > 100
    signed_in = await web.sessions.resolve(request.cookies.get(ACCESS_COOKIE), request.cookies.get(REFRESH_COOKIE))
    visit = Visit(request, web, web.csrf.new_nonce() if fresh or nonce is None else nonce, signed_in, new_nonce=fresh)
    had_session = ACCESS_COOKIE in request.cookies or REFRESH_COOKIE in request.cookies
    if signed_in is None and had_session:
        visit.end_session()  # dead cookies are dropped, so they are not tried again on every page
    return visit
