"""/api/admin/users and /api/admin/audit in process, on the in-memory adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from application.identity.sign_in import SignInRequest
from entrypoints.bootstrap import Container
from tests.support.app import PASSWORD, app_client, bearer, memory_container, verified_user_token

ROOT = "root@example.com"
ADA = "ada@example.com"


@dataclass
class Admin:
    client: httpx.AsyncClient
    container: Container
    headers: dict[str, str]
    id: str

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.headers)

    async def patch_user(self, user_id: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.patch(f"/api/admin/users/{user_id}", json=body, headers=self.headers)

    async def user_id(self, email: str) -> str:
        page = (await self.get("/api/admin/users", q=email)).json()
        return str(page["items"][0]["id"])


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    container = memory_container(tmp_path)
    async with app_client(container) as client:
        await container.identity.create_admin(ROOT, PASSWORD)
        pair = await container.identity.sign_in(SignInRequest(ROOT, PASSWORD))
        yield Admin(client, container, bearer(pair.access_token), str(pair.user.id))


def _problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(slug)


async def test_the_users_list_shows_admin_users_newest_first(admin: Admin) -> None:
    await verified_user_token(admin.container, ADA, plan="pro")

    response = await admin.get("/api/admin/users")

    assert response.status_code == 200, response.text
    page = response.json()
    assert [user["email"] for user in page["items"]] == [ADA, ROOT]
    ada = page["items"][0]
    assert set(ada) == {
        "id", "email", "name", "role", "plan", "email_verified", "disabled", "created_at", "last_active_at"
    }  # fmt: skip
    assert (ada["role"], ada["plan"], ada["email_verified"], ada["disabled"]) == ("user", "pro", True, False)
    assert ada["last_active_at"] is not None
    assert page["next_cursor"] is None


async def test_the_users_list_filters_and_pages(admin: Admin) -> None:
    await verified_user_token(admin.container, ADA, plan="pro")
    await verified_user_token(admin.container, "bob@example.org")

    assert [u["email"] for u in (await admin.get("/api/admin/users", q="EXAMPLE.COM")).json()["items"]] == [ADA, ROOT]
    assert [u["email"] for u in (await admin.get("/api/admin/users", plan="pro")).json()["items"]] == [ADA]
    assert [u["email"] for u in (await admin.get("/api/admin/users", role="admin")).json()["items"]] == [ROOT]
    first = (await admin.get("/api/admin/users", limit=2)).json()
    rest = (await admin.get("/api/admin/users", limit=2, cursor=first["next_cursor"])).json()
    assert [u["email"] for u in first["items"] + rest["items"]] == ["bob@example.org", ADA, ROOT]
    assert (await admin.get("/api/admin/users", status="sleeping")).status_code == 422
    _problem(await admin.get("/api/admin/users", cursor="not-ours"), 422, "validation-error")


async def test_disabling_ends_the_users_tokens_and_signin_answers_account_disabled(admin: Admin) -> None:
    token = await verified_user_token(admin.container, ADA)
    ada_id = await admin.user_id(ADA)

    response = await admin.patch_user(ada_id, {"disabled": True})

    assert response.status_code == 200, response.text
    assert response.json()["disabled"] is True
    _problem(await admin.client.get("/api/auth/me", headers=bearer(token)), 401, "invalid-token")
    signin = await admin.client.post("/api/auth/signin", json={"email": ADA, "password": PASSWORD})
    _problem(signin, 401, "account-disabled")
    assert [u["email"] for u in (await admin.get("/api/admin/users", status="disabled")).json()["items"]] == [ADA]

    assert (await admin.patch_user(ada_id, {"disabled": False})).json()["disabled"] is False
    signin = await admin.client.post("/api/auth/signin", json={"email": ADA, "password": PASSWORD})
    assert signin.status_code == 200, signin.text
    _problem(await admin.client.get("/api/auth/me", headers=bearer(token)), 401, "invalid-token")


async def test_the_detail_counts_sessions_and_keys(admin: Admin) -> None:
    token = await verified_user_token(admin.container, ADA)
    await admin.client.post("/api/keys", json={"name": "laptop"}, headers=bearer(token))
    ada_id = await admin.user_id(ADA)

    detail = (await admin.get(f"/api/admin/users/{ada_id}")).json()

    assert (detail["email"], detail["sessions"], detail["api_keys"]) == (ADA, 1, 1)
    _problem(await admin.get(f"/api/admin/users/{UUID(int=7)}"), 404, "not-found")


async def test_the_detail_shows_the_subscription_and_the_usage_of_the_period(admin: Admin) -> None:
    free = await verified_user_token(admin.container, ADA)
    await admin.client.post("/api/chat", json={"content": "Hello there"}, headers=bearer(free))
    paying = await verified_user_token(admin.container, "bob@example.com")
    subscribed = await admin.client.post("/api/billing/subscribe", json={"plan": "plus"}, headers=bearer(paying))
    assert subscribed.status_code == 200, subscribed.text

    ada = (await admin.get(f"/api/admin/users/{await admin.user_id(ADA)}")).json()
    bob = (await admin.get(f"/api/admin/users/{await admin.user_id('bob@example.com')}")).json()

    own_usage = (await admin.client.get("/api/usage", headers=bearer(free))).json()
    assert ada["subscription"] is None
    assert ada["usage"]["used"] == own_usage["used"] > 0 and ada["usage"]["limit"] == own_usage["limit"]
    assert ada["usage"]["remaining"] == own_usage["remaining"]
    assert (bob["subscription"]["plan"], bob["subscription"]["status"]) == ("plus", "active")
    assert bob["usage"]["limit"] == 100_000 and bob["usage"]["used"] == 0


async def test_a_role_change_is_audit_logged_with_the_admin_as_actor(admin: Admin) -> None:
    await verified_user_token(admin.container, ADA)
    ada_id = await admin.user_id(ADA)

    promoted = await admin.patch_user(ada_id, {"role": "admin"})
    await admin.patch_user(ada_id, {"disabled": True})

    assert promoted.json()["role"] == "admin"
    page = (await admin.get("/api/admin/audit", target_id=ada_id)).json()
    assert [entry["action"] for entry in page["items"]] == ["user.disabled", "user.role_changed"]
    assert {entry["actor_id"] for entry in page["items"]} == {admin.id}
    assert page["items"][1]["details"] == {"previous_role": "user", "role": "admin"}
    only = (await admin.get("/api/admin/audit", action="user.role_changed", limit=1)).json()
    assert [entry["target_id"] for entry in only["items"]] == [ada_id]
    mine = (await admin.get("/api/admin/audit", actor_id=admin.id)).json()
    assert len(mine["items"]) == 2


async def test_an_admin_cannot_disable_or_demote_themselves(admin: Admin) -> None:
    _problem(await admin.patch_user(admin.id, {"disabled": True}), 409, "cannot-change-self")
    _problem(await admin.patch_user(admin.id, {"role": "user"}), 409, "cannot-change-self")
    _problem(await admin.patch_user(str(UUID(int=7)), {"disabled": True}), 404, "not-found")
    assert (await admin.patch_user(admin.id, {"role": "admin"})).status_code == 200
    assert (await admin.get("/api/auth/me")).status_code == 200


async def test_non_admins_get_403_and_strangers_401(admin: Admin) -> None:
    ada = bearer(await verified_user_token(admin.container, ADA))
    for path in ("/api/admin/users", f"/api/admin/users/{admin.id}", "/api/admin/audit"):
        _problem(await admin.client.get(path, headers=ada), 403, "forbidden")
        _problem(await admin.client.get(path), 401, "invalid-token")
    patched = await admin.client.patch(f"/api/admin/users/{admin.id}", json={"disabled": True}, headers=ada)
    _problem(patched, 403, "forbidden")


async def test_a_deleted_account_is_not_in_the_users_list(admin: Admin) -> None:
    token = await verified_user_token(admin.container, ADA)
    deleted = await admin.client.request("DELETE", "/api/auth/me", json={"password": PASSWORD}, headers=bearer(token))
    assert deleted.status_code in (200, 204), deleted.text

    page = (await admin.get("/api/admin/users")).json()

    assert [user["email"] for user in page["items"]] == [ROOT]
