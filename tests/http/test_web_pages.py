"""The web client over HTTP in process: cookie sessions, CSRF refusal, security headers, escaping, static files."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from entrypoints.bootstrap import Container
from entrypoints.web.assets import asset_version
from entrypoints.web.security import CONTENT_SECURITY_POLICY
from tests.support.app import PASSWORD, app_client, bearer, memory_container, verified_user_token

ADA = "ada@example.com"


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert match, page.text
    return match.group(1)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


@pytest.fixture
async def container(tmp_path: Path) -> Container:
    container = memory_container(tmp_path)
    await verified_user_token(container, ADA)
    return container


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(container) as http:
        yield http


async def sign_in(client: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(await client.get("/signin"))
    form = {"csrf_token": token, "email": ADA, "password": password, "next": "/usage"}
    return await client.post("/signin", data=form, follow_redirects=False)


async def test_signing_in_sets_httponly_samesite_session_cookies_and_redirects(client: httpx.AsyncClient) -> None:
    response = await sign_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/usage"
    cookies = set_cookies(response)
    for name in ("parley_access", "parley_refresh"):
        flags = cookies[name].lower()
        assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
        assert "secure" not in flags  # served over plain http here
    page = await client.get("/usage")
    assert page.status_code == 200 and "Usage" in page.text


async def test_cookies_are_secure_when_served_over_https(tmp_path: Path) -> None:
    container = memory_container(tmp_path, settings={"public_url": "https://parley.example"})
    await verified_user_token(container, ADA)
    async with app_client(container) as client:
        response = await sign_in(client)
    assert all("secure" in header.lower() for header in set_cookies(response).values())


async def test_a_form_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    await client.get("/signin")  # the browser holds a CSRF cookie, the forged form lacks the token
    for extra in ({}, {"csrf_token": "0" * 64}):
        response = await client.post("/signin", data={"email": ADA, "password": PASSWORD, **extra})
        assert response.status_code == 403
        assert "Request refused" in response.text
        assert "parley_access" not in set_cookies(response)
    await sign_in(client)
    response = await client.post("/account/name", data={"name": "Mallory"}, follow_redirects=False)
    assert response.status_code == 403
    me = await client.get("/account")
    assert "Mallory" not in me.text


async def test_a_signed_out_page_sends_to_sign_in_and_next_stays_on_this_site(client: httpx.AsyncClient) -> None:
    response = await client.get("/billing", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?next=/billing"
    token = csrf_of(await client.get("/signin"))
    form = {"csrf_token": token, "email": ADA, "password": PASSWORD, "next": "//evil.example/"}
    response = await client.post("/signin", data=form, follow_redirects=False)
    assert response.headers["location"] == "/chat"


async def test_wrong_credentials_show_an_error_on_the_form(client: httpx.AsyncClient) -> None:
    response = await sign_in(client, password="not the password at all")
    assert response.status_code == 401
    assert "The email or password is incorrect." in response.text and 'value="ada@example.com"' in response.text


async def test_every_page_carries_a_strict_content_security_policy(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    for path in ("/", "/signin", "/signup", "/forgot-password", "/chat", "/usage", "/billing", "/keys", "/account"):
        response = await client.get(path)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "no-store" in response.headers["cache-control"]
        assert not re.search(r"<script(?![^>]*\bsrc=)", response.text), f"inline script on {path}"
        assert not re.search(r"\son[a-z]+=", response.text), f"inline event handler on {path}"


async def test_what_a_user_or_a_model_wrote_is_escaped(client: httpx.AsyncClient, container: Container) -> None:
    token = await verified_user_token(container, "eve@example.com")
    await client.get("/")
    attack = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    sent = await client.post("/api/chat", json={"content": attack}, headers=bearer(token))
    conversation_id = sent.json()["conversation_id"]
    client.cookies.clear()
    login = csrf_of(await client.get("/signin"))
    form = {"csrf_token": login, "email": "eve@example.com", "password": PASSWORD}
    await client.post("/signin", data=form, follow_redirects=False)
    page = await client.get(f"/chat/{conversation_id}")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page.text


async def test_a_cookie_never_authenticates_the_json_api(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    assert (await client.get("/api/auth/me")).status_code == 401
    assert (await client.get("/v1/models")).status_code == 401


async def test_the_token_endpoint_needs_the_csrf_header_and_gives_a_working_bearer_token(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client)
    assert (await client.post("/web/token")).status_code == 403
    page = await client.get("/chat")
    response = await client.post("/web/token", headers={"X-CSRF-Token": csrf_of(page)})
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert 0 < body["expires_in"] <= 900
    me = await client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == ADA


async def test_an_expired_access_cookie_is_refreshed_once_even_by_concurrent_requests(
    client: httpx.AsyncClient,
) -> None:
    spent = set_cookies(await sign_in(client))["parley_refresh"].split(";")[0]
    client.cookies.clear()
    stale = {"Cookie": f"parley_access=expired.or.bogus; {spent}"}  # what a browser sends from several tabs
    pages = await asyncio.gather(*(client.get("/usage", headers=stale) for _ in range(3)))
    assert [page.status_code for page in pages] == [200, 200, 200]
    rotated = {set_cookies(page)["parley_refresh"].split(";")[0] for page in pages}
    assert len(rotated) == 1 and rotated != {spent}  # one rotation, shared by every request
    fresh = {"Cookie": rotated.pop()}
    again = await client.get("/keys", headers=fresh, follow_redirects=False)
    assert again.status_code == 200, "the session survived: no refresh token was used twice"


async def test_signing_out_ends_the_session(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    page = await client.get("/account")
    response = await client.post("/signout", data={"csrf_token": csrf_of(page)}, follow_redirects=False)
    assert response.status_code == 303
    assert all("max-age=0" in set_cookies(response)[name].lower() for name in ("parley_access", "parley_refresh"))
    assert (await client.get("/account", follow_redirects=False)).status_code == 303


async def test_an_expired_or_used_email_link_says_so(client: httpx.AsyncClient) -> None:
    page = await client.get("/verify-email?token=used-or-unknown")
    assert page.status_code == 400 and "expired or has already been used" in page.text
    token = csrf_of(await client.get("/reset-password?token=abc"))
    form = {"csrf_token": token, "token": "abc", "password": "a perfectly fine passphrase"}
    response = await client.post("/reset-password", data=form)
    assert response.status_code == 400 and "expired or has already been used" in response.text


async def test_static_files_have_versioned_urls_and_long_cache_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/signin")
    assert f"/static/{asset_version()}/css/app.css" in page.text
    css = await client.get(f"/static/{asset_version()}/css/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "immutable" in css.headers["cache-control"] and "max-age=31536000" in css.headers["cache-control"]
    script = await client.get(f"/static/{asset_version()}/js/chat.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert (await client.get(f"/static/{asset_version()}/../context.py")).status_code == 404
    assert (await client.get(f"/static/{asset_version()}/%2e%2e/context.py")).status_code == 404


async def test_billing_upgrade_then_downgrade_shows_the_pending_plan_then_cancel(client: httpx.AsyncClient) -> None:
    await sign_in(client)
    token = csrf_of(await client.get("/billing"))
    upgraded = await client.post("/billing/subscribe", data={"csrf_token": token, "plan": "pro"})
    assert upgraded.status_code == 200 and "Your plan has changed." in upgraded.text
    assert 'id="current-plan">pro<' in upgraded.text and "Invoice</a>" in upgraded.text
    downgraded = await client.post("/billing/subscribe", data={"csrf_token": token, "plan": "plus"})
    assert "Your plan changes at the end of the current period." in downgraded.text
    assert re.search(r'id="pending-plan">Changes to <strong>plus</strong>', downgraded.text)
    canceled = await client.post("/billing/cancel", data={"csrf_token": token})
    assert "Your subscription is canceled" in canceled.text and 'id="cancel-pending"' in canceled.text
    unknown = await client.post("/billing/subscribe", data={"csrf_token": token, "plan": "platinum"})
    assert 400 <= unknown.status_code < 500 and 'role="alert"' in unknown.text


STRIPE = {"stripe_secret_key": "sk_test_not_called", "stripe_price_plus": "price_plus", "stripe_price_pro": "price_pro"}


@pytest.mark.parametrize(
    ("settings", "script", "frames", "connect"),
    [
        (
            {"stripe_publishable_key": "pk_test_parley"},
            "https://js.stripe.com/v3/",
            "https://js.stripe.com https://hooks.stripe.com",
            "https://api.stripe.com",
        ),
        (
            {"stripe_publishable_key": "pk_test_parley", "stripe_js_url": "http://127.0.0.1:4010/v3/"},
            "http://127.0.0.1:4010/v3/",
            "http://127.0.0.1:4010",
            "http://127.0.0.1:4010",
        ),
    ],
)
async def test_with_stripe_only_the_billing_page_loads_stripe_js_and_its_csp_opens_stripes_origins(
    tmp_path: Path, settings: dict[str, str], script: str, frames: str, connect: str
) -> None:
    container = memory_container(tmp_path, {**STRIPE, **settings})
    await verified_user_token(container, ADA)
    async with app_client(container) as client:
        await sign_in(client)
        billing = await client.get("/billing")
        policy = billing.headers["content-security-policy"]
        origin = script.rsplit("/v3/", 1)[0]
        assert f"script-src 'self' {origin};" in policy and f"frame-src {frames};" in policy
        assert f"connect-src 'self' {connect};" in policy and "unsafe-inline" not in policy
        assert f'<script src="{script}"></script>' in billing.text and "js/billing-stripe.js" in billing.text
        assert 'data-publishable-key="pk_test_parley"' in billing.text and "sk_test_not_called" not in billing.text
        assert 'data-checkout="Plus"' in billing.text
        for path in ("/chat", "/usage", "/account"):
            other = await client.get(path)
            assert other.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert origin not in other.text


async def test_without_a_publishable_key_the_billing_page_keeps_the_local_forms(tmp_path: Path) -> None:
    container = memory_container(tmp_path, STRIPE)
    await verified_user_token(container, ADA)
    async with app_client(container) as client:
        await sign_in(client)
        billing = await client.get("/billing")
        assert billing.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "stripe" not in billing.text.lower() and "data-checkout" not in billing.text
