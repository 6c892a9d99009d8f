"""The /admin page over HTTP in process: who may open it, and the one widening of its Content-Security-Policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app
from entrypoints.web.security import CONTENT_SECURITY_POLICY
from tests.support.app import PASSWORD, app_client, memory_container, verified_user_token

ADA = "ada@example.com"
ROOT = "root@example.com"


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert match, page.text
    return match.group(1)


@pytest.fixture
async def container(tmp_path: Path) -> Container:
    container = memory_container(tmp_path)
    await verified_user_token(container, ADA)
    await container.identity.create_admin(ROOT, PASSWORD)
    return container


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(container) as http:
        yield http


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    token = csrf_of(await client.get("/signin"))
    form = {"csrf_token": token, "email": email, "password": PASSWORD, "next": "/chat"}
    response = await client.post("/signin", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text


async def test_a_signed_out_visitor_is_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/admin", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/admin"


async def test_a_user_who_is_not_an_admin_gets_a_403_page(client: httpx.AsyncClient) -> None:
    await sign_in(client, ADA)
    response = await client.get("/admin")
    assert response.status_code == 403
    assert "This page is for administrators only." in response.text
    assert "js/admin.js" not in response.text
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert 'href="/admin"' not in response.text  # and no Admin link in the nav


async def test_an_admin_gets_the_dashboard_whose_policy_adds_only_its_own_websocket_origin(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, ROOT)
    response = await client.get("/admin")
    assert response.status_code == 200
    for label in ("Live", "Users", "Active users", "Messages", "Revenue and MRR", "Provider latency"):
        assert f">{label}<" in response.text
    for name in ("Search", "Send announcement", "Grant", "Show"):
        assert f">{name}</button>" in response.text
    assert 'href="/admin" aria-current="page"' in response.text
    policy = response.headers["content-security-policy"]
    host = httpx.URL(str(client.base_url)).netloc.decode()
    assert f"connect-src 'self' ws://{host};" in policy
    assert policy.replace(f" ws://{host}", "") == CONTENT_SECURITY_POLICY  # nothing else differs
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text) is None  # no inline script
    assert re.search(r"\son[a-z]+=", response.text) is None  # no inline handler
    assert response.headers["cache-control"] == "no-store"


async def test_an_odd_host_header_never_reaches_the_policy(client: httpx.AsyncClient) -> None:
    await sign_in(client, ROOT)
    response = await client.get("/admin", headers={"Host": "evil.example; script-src *"})
    assert "evil" not in response.headers.get("content-security-policy", "")
    assert "script-src *" not in response.headers.get("content-security-policy", "")


async def test_over_https_the_policy_names_the_wss_origin(tmp_path: Path) -> None:
    container = memory_container(tmp_path, settings={"public_url": "https://parley.example"})
    await container.identity.create_admin(ROOT, PASSWORD)
    app = create_app(container)
    async with AsyncTestClient(app=app, base_url="https://parley.example", raise_server_exceptions=False) as client:
        await sign_in(client, ROOT)
        response = await client.get("/admin")
    assert "connect-src 'self' wss://parley.example;" in response.headers["content-security-policy"]
