"""POST/GET /api/admin/announcements and unsubscribing, on SQLite and PostgreSQL: who gets an announcement, that
each recipient gets it once whatever is retried, its headers and body, and the unsubscribe link."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from application.identity import topics
from application.identity.sign_in import SignInRequest
from application.shared.ports import EmailMessage
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.support.app import PASSWORD, bearer, loop_client, verified_user_token
from tests.support.jobs import pending_jobs, run_all_jobs

ROOT = "root@example.com"
PUBLIC_URL = "https://chat.example.com"
BODY = "# Big news\n\nWe ship **today**. <script>alert('x')</script>\n\n- [Read more](https://chat.example.com/news)\n"


@dataclass
class Admin:
    container: Container
    client: httpx.AsyncClient
    headers: dict[str, str]
    mailer: InMemoryMailer

    async def announce(self, body: Any) -> httpx.Response:
        return await self.client.post("/api/admin/announcements", json=body, headers=self.headers)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers)

    def sent_to(self, subject: str) -> list[str]:
        return sorted(m.to for m in self.mailer.sent if m.subject == subject)


@pytest.fixture
async def admin(tmp_path: Path, database_url: str) -> AsyncIterator[Admin]:
    settings = Settings(  # type: ignore[call-arg]
        var_dir=tmp_path,
        secret_key="k" * 48,
        database_url=database_url,
        public_url=PUBLIC_URL,
        announcement_batch_size=2,
        rate_limit_enabled=False,
        _env_file=None,
    )
    mailer = InMemoryMailer()
    container = bootstrap(settings, mailer=mailer, hasher=Pbkdf2PasswordHasher())
    try:
        async with loop_client(container) as client:
            await container.identity.create_admin(ROOT, PASSWORD)
            pair = await container.identity.sign_in(SignInRequest(ROOT, PASSWORD))
            yield Admin(container, client, bearer(pair.access_token), mailer)
    finally:
        await container.aclose()


async def _audience(admin: Admin) -> dict[str, str]:
    """Accounts of every kind; returns email -> access token of those who can sign in."""
    tokens = {}
    for email, plan in (("ada@example.com", "free"), ("bob@example.com", "plus"), ("cy@example.com", "pro")):
        tokens[email] = await verified_user_token(admin.container, email, plan=plan)
    for email, plan in (("dee@example.com", "free"), ("eve@example.com", "plus")):
        tokens[email] = await verified_user_token(admin.container, email, plan=plan)
    await verified_user_token(admin.container, "unverified@example.com", verified=False)
    disabled = await verified_user_token(admin.container, "disabled@example.com")
    gone = await verified_user_token(admin.container, "gone@example.com")
    await admin.client.request("DELETE", "/api/auth/me", json={"password": PASSWORD}, headers=bearer(gone))
    disabled_id = (await admin.client.get("/api/auth/me", headers=bearer(disabled))).json()["id"]
    patched = await admin.client.patch(
        f"/api/admin/users/{disabled_id}", json={"disabled": True}, headers=admin.headers
    )
    assert patched.status_code == 200
    return tokens


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(slug)
    return body


def _token(message: EmailMessage) -> str:
    found = re.search(r"/unsubscribe\?token=([A-Za-z0-9_-]+)", message.text)
    assert found is not None
    return found.group(1)


async def test_an_announcement_goes_once_to_each_verified_enabled_account_in_batches(admin: Admin) -> None:
    await _audience(admin)

    response = await admin.announce({"subject": "Big news", "body_markdown": BODY, "audience": "all"})

    assert response.status_code == 202, response.text
    queued = response.json()
    assert set(queued) == {"id", "subject", "audience", "status", "recipients", "sent", "created_at"}
    assert (queued["status"], queued["recipients"], queued["sent"], queued["audience"]) == ("queued", 6, 0, "all")
    assert admin.mailer.sent == [] or all(m.subject != "Big news" for m in admin.mailer.sent)

    assert await run_all_jobs(admin.container, topics.ANNOUNCEMENT_BATCH) == 4  # 2 recipients a job, then the end

    everyone = ["ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com", ROOT]
    assert admin.sent_to("Big news") == everyone
    done = (await admin.get(f"/api/admin/announcements/{queued['id']}")).json()
    assert (done["status"], done["recipients"], done["sent"]) == ("sent", 6, 6)


async def test_the_audience_is_the_plan_of_the_account(admin: Admin) -> None:
    await _audience(admin)
    for audience, expected in (
        ("free", ["ada@example.com", "dee@example.com", ROOT]),
        ("plus", ["bob@example.com", "eve@example.com"]),
        ("pro", ["cy@example.com"]),
    ):
        queued = await admin.announce({"subject": f"For {audience}", "body_markdown": "Hi", "audience": audience})
        assert queued.json()["recipients"] == len(expected)
        await run_all_jobs(admin.container, topics.ANNOUNCEMENT_BATCH)
        assert admin.sent_to(f"For {audience}") == expected


async def test_a_retried_or_repeated_job_emails_nobody_twice(admin: Admin) -> None:
    await _audience(admin)
    queued = (await admin.announce({"subject": "Once", "body_markdown": "Only once", "audience": "all"})).json()
    [first] = await pending_jobs(admin.container, topics.ANNOUNCEMENT_BATCH)
    admin.mailer.failure = OSError("the mail server hung up")
    with pytest.raises(OSError):
        await admin.container.run_job(first)  # fails on the first email: its claims are given back
    admin.mailer.failure = None

    assert await admin.container.run_job(first) is True  # the broker's retry
    handler_again = await admin.container.run_job(first)  # a duplicate delivery of the message
    assert handler_again is False
    await run_all_jobs(admin.container, topics.ANNOUNCEMENT_BATCH)

    sent = [m.to for m in admin.mailer.sent if m.subject == "Once"]
    assert len(sent) == len(set(sent)) == 6
    assert (await admin.get(f"/api/admin/announcements/{queued['id']}")).json()["sent"] == 6


async def test_each_email_carries_the_one_click_unsubscribe_headers_and_a_safe_body(admin: Admin) -> None:
    await verified_user_token(admin.container, "ada@example.com")
    await admin.announce({"subject": "Big news", "body_markdown": BODY, "audience": "free"})
    await run_all_jobs(admin.container, topics.ANNOUNCEMENT_BATCH)

    message = next(m for m in admin.mailer.sent if m.to == "ada@example.com")

    token = _token(message)
    link = f"{PUBLIC_URL}/unsubscribe?token={token}"
    assert message.headers == {"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert link in message.text and link in message.html
    assert "<h1>Big news</h1>" in message.html and "<strong>today</strong>" in message.html
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert '<a href="https://chat.example.com/news">Read more</a>' in message.html
    assert "We ship today." in message.text and "Read more (https://chat.example.com/news)" in message.text
    assert "**" not in message.text


async def test_unsubscribing_stops_announcements_but_not_account_emails(admin: Admin) -> None:
    await verified_user_token(admin.container, "ada@example.com")
    await verified_user_token(admin.container, "bob@example.com")
    await admin.announce({"subject": "First", "body_markdown": "One", "audience": "free"})
    await run_all_jobs(admin.container, topics.ANNOUNCEMENT_BATCH)
    ada, bob = (next(m for m in admin.mailer.sent if m.to == who) for who in ("ada@example.com", "bob@example.com"))

    one_click = await admin.client.post(
        f"/unsubscribe?token={_token(ada)}",
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    by_api = await admin.client.post("/api/email/unsubscribe", json={"token": _token(bob)})
    again = await admin.client.post("/api/email/unsubscribe", json={"token": _token(bob)})

    assert (one_click.status_code, by_api.status_code, again.status_code) == (200, 200, 200), one_click.text
    queued = (await admin.announce({"subject": "Second", "body_markdown": "Two", "audience": "free"})).json()
    assert queued["recipients"] == 1
    await run_all_jobs(admin.container, topics.ANNOUNCEMENT_BATCH)
    assert admin.sent_to("Second") == [ROOT]
    forgot = await admin.client.post("/api/auth/forgot-password", json={"email": "ada@example.com"})
    assert forgot.status_code == 202
    await run_all_jobs(admin.container)
    assert any(m.to == "ada@example.com" and "password" in m.subject.lower() for m in admin.mailer.sent)


@pytest.mark.parametrize("token", ["not-a-token", "x" * 600])
async def test_a_bad_unsubscribe_token_is_a_400_problem(admin: Admin, token: str) -> None:
    _problem(await admin.client.post("/api/email/unsubscribe", json={"token": token[:4096]}), 400, "invalid-token")
    one_click = await admin.client.post(f"/unsubscribe?token={token}")
    assert one_click.status_code in (400, 422), one_click.text
    assert one_click.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject": "", "body_markdown": "b", "audience": "all"}, "subject"),
        ({"subject": "   ", "body_markdown": "b", "audience": "all"}, "subject"),
        ({"subject": "s" * 201, "body_markdown": "b", "audience": "all"}, "subject"),
        ({"subject": "two\nlines", "body_markdown": "b", "audience": "all"}, "subject"),
        ({"subject": "s", "body_markdown": "", "audience": "all"}, "body_markdown"),
        ({"subject": "s", "body_markdown": "b" * 50_001, "audience": "all"}, "body_markdown"),
        ({"subject": "s", "body_markdown": "a\u0000b", "audience": "all"}, "body_markdown"),
        ({"subject": "s", "body_markdown": "b", "audience": "vip"}, "audience"),
        ({"subject": "s", "body_markdown": "b"}, "audience"),
    ],
)
async def test_a_bad_announcement_is_a_422_naming_the_field_and_queues_nothing(
    admin: Admin, body: dict[str, Any], field: str
) -> None:
    problem = _problem(await admin.announce(body), 422, "validation-error")

    assert field in str(problem)
    assert (await admin.get("/api/admin/announcements")).json()["items"] == []
    assert await pending_jobs(admin.container, topics.ANNOUNCEMENT_BATCH) == []


async def test_the_edges_are_accepted(admin: Admin) -> None:
    response = await admin.announce({"subject": "s" * 200, "body_markdown": "b" * 50_000, "audience": "pro"})
    assert response.status_code == 202, response.text


async def test_announcements_are_listed_newest_first_by_page_and_audit_logged(admin: Admin) -> None:
    ids = [
        (await admin.announce({"subject": f"N{i}", "body_markdown": "b", "audience": "all"})).json()["id"]
        for i in range(3)
    ]

    first = (await admin.get("/api/admin/announcements", limit=2)).json()
    rest = (await admin.get("/api/admin/announcements", limit=2, cursor=first["next_cursor"])).json()

    assert [a["id"] for a in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    _problem(await admin.get(f"/api/admin/announcements/{UUID(int=7)}"), 404, "not-found")
    _problem(await admin.get("/api/admin/announcements", limit=101), 422, "validation-error")
    audit = (await admin.get("/api/admin/audit", action="announcement.create")).json()["items"]
    assert [entry["target_id"] for entry in audit] == ids[::-1]
    assert audit[0]["details"] == {"subject": "N2", "audience": "all", "recipients": 1}


async def test_only_admins_announce(admin: Admin) -> None:
    ada = bearer(await verified_user_token(admin.container, "ada@example.com"))
    body = {"subject": "s", "body_markdown": "b", "audience": "all"}
    _problem(await admin.client.post("/api/admin/announcements", json=body, headers=ada), 403, "forbidden")
    _problem(await admin.client.get("/api/admin/announcements", headers=ada), 403, "forbidden")
    _problem(await admin.client.post("/api/admin/announcements", json=body), 401, "invalid-token")
    assert (await admin.get("/api/admin/announcements")).json()["items"] == []
