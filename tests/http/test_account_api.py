"""PATCH /api/auth/me and POST /api/auth/change-password in process, on the in-memory adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.memory.mailer import InMemoryMailer
from adapters.memory.publisher import InMemoryPublisher
from application.shared import topics
from entrypoints.bootstrap import Container
from tests.support.app import PASSWORD, app_client, bearer, memory_container, verified_user_token
from tests.support.fake_stripe import FakeStripe

ADA = "ada@example.com"
NEW_PASSWORD = "marmalade glacier tuba"


@dataclass
class Account:
    client: httpx.AsyncClient
    container: Container
    mailer: InMemoryMailer
    publisher: InMemoryPublisher

    async def sign_in(self, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post("/api/auth/signin", json={"email": ADA, "password": password})
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def change(self, tokens: dict[str, Any], current: str, new: str) -> httpx.Response:
        body = {"current_password": current, "new_password": new}
        return await self.client.post("/api/auth/change-password", json=body, headers=bearer(tokens["access_token"]))

    async def me(self, access_token: str) -> httpx.Response:
        return await self.client.get("/api/auth/me", headers=bearer(access_token))

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.client.post("/api/auth/refresh", json={"refresh_token": refresh_token})

    async def delete_me(self, access_token: str, password: str = PASSWORD) -> httpx.Response:
        body = {"password": password}
        return await self.client.request("DELETE", "/api/auth/me", json=body, headers=bearer(access_token))

    async def run_jobs(self) -> None:
        """Relay the outbox and run every job published so far, as the worker would (a done one is skipped)."""
        await self.container.relay_outbox()
        for message_id, _topic in list(self.publisher.published):
            await self.container.run_job(message_id)


@pytest.fixture
async def account(tmp_path: Path) -> AsyncIterator[Account]:
    mailer, publisher = InMemoryMailer(), InMemoryPublisher()
    container = memory_container(tmp_path, mailer=mailer, publisher=publisher)
    async with app_client(container) as client:
        await verified_user_token(container, ADA)
        yield Account(client, container, mailer, publisher)


def _fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [error["field"] for error in response.json()["errors"]]


async def test_patch_me_sets_the_name_and_get_me_shows_it(account: Account) -> None:
    token = (await account.sign_in())["access_token"]

    patched = await account.client.patch("/api/auth/me", json={"name": "  Ada  Lovelace "}, headers=bearer(token))

    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Ada Lovelace"
    assert set(patched.json()) == {"id", "email", "name", "email_verified", "role", "plan", "created_at"}
    assert (await account.me(token)).json()["name"] == "Ada Lovelace"


async def test_patch_me_with_null_clears_the_name(account: Account) -> None:
    token = (await account.sign_in())["access_token"]
    await account.client.patch("/api/auth/me", json={"name": "Ada"}, headers=bearer(token))

    cleared = await account.client.patch("/api/auth/me", json={"name": None}, headers=bearer(token))

    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["name"] is None
    assert (await account.me(token)).json()["name"] is None


@pytest.mark.parametrize("body", [{"name": "   "}, {"name": "x" * 101}, {"name": 7}, {}, {"name": "a\u0000b"}])
async def test_patch_me_refuses_a_bad_name_naming_the_field(account: Account, body: dict[str, Any]) -> None:
    token = (await account.sign_in())["access_token"]
    await account.client.patch("/api/auth/me", json={"name": "Ada"}, headers=bearer(token))

    refused = await account.client.patch("/api/auth/me", json=body, headers=bearer(token))

    assert "name" in _fields(refused)
    assert (await account.me(token)).json()["name"] == "Ada"


async def test_patch_me_needs_a_credential(account: Account) -> None:
    assert (await account.client.patch("/api/auth/me", json={"name": "Ada"})).status_code == 401


async def test_change_password_answers_a_new_session_and_every_old_one_dies(account: Account) -> None:
    calling = await account.sign_in()
    other = await account.sign_in()

    changed = await account.change(calling, PASSWORD, NEW_PASSWORD)

    assert changed.status_code == 200, changed.text
    fresh = changed.json()
    assert fresh["token_type"] == "bearer"
    assert fresh["user"]["email"] == ADA
    assert fresh["access_token"] != calling["access_token"]
    assert fresh["refresh_token"] != calling["refresh_token"]
    for old in (calling, other):
        assert (await account.me(old["access_token"])).status_code == 401
        assert (await account.refresh(old["refresh_token"])).status_code == 401
    assert (await account.me(fresh["access_token"])).status_code == 200
    assert (await account.refresh(fresh["refresh_token"])).status_code == 200
    wrong = await account.client.post("/api/auth/signin", json={"email": ADA, "password": PASSWORD})
    assert wrong.status_code == 401
    assert (await account.sign_in(NEW_PASSWORD))["user"]["email"] == ADA


async def test_change_password_with_a_wrong_current_password_is_401_and_changes_nothing(account: Account) -> None:
    tokens = await account.sign_in()

    refused = await account.change(tokens, "not the password at all", NEW_PASSWORD)

    assert refused.status_code == 401
    assert refused.json()["type"].endswith("invalid-credentials")
    assert (await account.me(tokens["access_token"])).status_code == 200
    assert (await account.sign_in(PASSWORD))["user"]["email"] == ADA


@pytest.mark.parametrize("new_password", ["too short", "y" * 129, "1qaz2wsx3edc"])
async def test_change_password_applies_signup_rules_to_the_new_password(account: Account, new_password: str) -> None:
    tokens = await account.sign_in()

    refused = await account.change(tokens, PASSWORD, new_password)

    assert _fields(refused) == ["new_password"]
    assert (await account.me(tokens["access_token"])).status_code == 200


async def test_change_password_refuses_an_api_key_with_403(account: Account) -> None:
    tokens = await account.sign_in()
    created = await account.client.post("/api/keys", json={"name": "ci"}, headers=bearer(tokens["access_token"]))
    key = created.json()["key"]

    refused = await account.change({"access_token": key}, PASSWORD, NEW_PASSWORD)

    assert refused.status_code == 403
    assert refused.json()["type"].endswith("forbidden")
    assert (await account.sign_in(PASSWORD))["user"]["email"] == ADA


async def test_change_password_needs_a_credential(account: Account) -> None:
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await account.client.post("/api/auth/change-password", json=body)).status_code == 401


async def test_change_password_is_rate_limited_per_user(account: Account) -> None:
    tokens = await account.sign_in()
    answers = [(await account.change(tokens, "a wrong guess, again", NEW_PASSWORD)).status_code for _ in range(11)]

    assert answers == [401] * 10 + [429]
    limited = await account.change(tokens, PASSWORD, NEW_PASSWORD)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


async def test_both_routes_are_in_the_openapi_document_with_their_errors(account: Account) -> None:
    paths = (await account.client.get("/schema/openapi.json")).json()["paths"]

    assert {"200", "401", "422"} <= set(paths["/api/auth/me"]["patch"]["responses"])
    assert {"200", "401", "403", "422", "429"} <= set(paths["/api/auth/change-password"]["post"]["responses"])


# --- GET /api/auth/me/export ---------------------------------------------------------------------


async def test_export_is_one_document_of_every_contexts_data_and_nothing_secret(account: Account) -> None:
    tokens = await account.sign_in()
    headers = bearer(tokens["access_token"])
    chat = await account.client.post("/api/chat", json={"content": "Why is the sky blue?"}, headers=headers)
    assert chat.status_code == 200, chat.text
    subscribed = await account.client.post("/api/billing/subscribe", json={"plan": "plus"}, headers=headers)
    assert subscribed.status_code == 200, subscribed.text
    key = (await account.client.post("/api/keys", json={"name": "laptop"}, headers=headers)).json()["key"]

    response = await account.client.get("/api/auth/me/export", headers=headers)

    assert response.status_code == 200, response.text
    document = response.json()
    assert set(document) == {"profile", "conversations", "usage", "subscription", "payments"}
    assert document["profile"] == (await account.me(tokens["access_token"])).json()
    [conversation] = document["conversations"]
    assert conversation["id"] == chat.json()["conversation_id"]
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
    assert conversation["messages"][0]["content"] == "Why is the sky blue?"
    [record] = document["usage"]
    assert record["message_id"] == conversation["messages"][1]["id"]
    assert document["subscription"]["plan"] == "plus"
    assert [p["status"] for p in document["payments"]] == ["succeeded"]
    text = response.text
    for secret in (tokens["access_token"], tokens["refresh_token"], key, "password", "hash", "secret", "cus_"):
        assert secret not in text


async def test_export_of_a_new_account_has_empty_parts_and_needs_a_session(account: Account) -> None:
    tokens = await account.sign_in()
    headers = bearer(tokens["access_token"])
    key = (await account.client.post("/api/keys", json={"name": "laptop"}, headers=headers)).json()["key"]

    document = (await account.client.get("/api/auth/me/export", headers=headers)).json()
    with_key = await account.client.get("/api/auth/me/export", headers=bearer(key))
    anonymous = await account.client.get("/api/auth/me/export")

    assert {k: document[k] for k in ("conversations", "usage", "subscription", "payments")} == {
        "conversations": [],
        "usage": [],
        "subscription": None,
        "payments": [],
    }
    assert with_key.status_code == 403
    assert anonymous.status_code == 401


# --- DELETE /api/auth/me -----------------------------------------------------------------------------


async def test_deleting_the_account_kills_its_credentials_erases_it_and_frees_the_address(account: Account) -> None:
    tokens = await account.sign_in()
    other = await account.sign_in()
    headers = bearer(tokens["access_token"])
    await account.client.patch("/api/auth/me", json={"name": "Ada Lovelace"}, headers=headers)
    chat = await account.client.post("/api/chat", json={"content": "Why is the sky blue?"}, headers=headers)
    assert chat.status_code == 200, chat.text
    assert (await account.client.post("/api/billing/subscribe", json={"plan": "plus"}, headers=headers)).is_success
    [payment] = (await account.client.get("/api/billing/payments", headers=headers)).json()["items"]
    key = (await account.client.post("/api/keys", json={"name": "laptop"}, headers=headers)).json()["key"]
    user_id = (await account.me(tokens["access_token"])).json()["id"]

    deleted = await account.delete_me(tokens["access_token"])

    assert deleted.status_code == 204, deleted.text
    for credential in (tokens["access_token"], other["access_token"], key):
        assert (await account.me(credential)).status_code == 401
    assert (await account.refresh(other["refresh_token"])).status_code == 401
    signin = await account.client.post("/api/auth/signin", json={"email": ADA, "password": PASSWORD})
    assert (signin.status_code, signin.json()["type"].rsplit("/", 1)[-1]) == (401, "invalid-credentials")

    await account.run_jobs()
    async with account.container.uow_factory() as uow:
        user = await uow.users.get(UUID(user_id))
        conversation = await uow.conversations.get_for_user(UUID(user_id), UUID(chat.json()["conversation_id"]))
        usage = await uow.usage.list_for_user(UUID(user_id))
        subscription = await uow.subscriptions.get_for_user(UUID(user_id))
        payments = await uow.payments.list_for_user(UUID(user_id), 10, None)
    assert user is not None
    assert (user.email, user.name, user.deleted) == (f"deleted-{user_id}@invalid", None, True)
    assert conversation is None
    assert len(usage) == 1
    assert subscription is not None
    assert (subscription.status, user.plan) == ("canceled", "free")
    assert [p.id for p in payments] == [UUID(payment["id"])]
    invoice = await account.client.get(payment["invoice_url"].removeprefix(str(account.client.base_url)))
    assert invoice.status_code == 200
    assert "a deleted account" in invoice.text
    assert ADA not in invoice.text and "Lovelace" not in invoice.text and "@invalid" not in invoice.text

    again = await account.client.post("/api/auth/signup", json={"email": ADA.upper(), "password": PASSWORD})
    assert again.status_code == 202
    async with account.container.uow_factory() as uow:
        new = await uow.users.get_by_email(ADA)
    assert new is not None and str(new.id) != user_id and not new.deleted


async def test_a_wrong_password_deletes_nothing(account: Account) -> None:
    tokens = await account.sign_in()

    response = await account.delete_me(tokens["access_token"], "not the password at all")

    assert response.status_code == 401
    assert response.json()["type"].endswith("invalid-credentials")
    assert (await account.me(tokens["access_token"])).json()["email"] == ADA
    await account.run_jobs()
    assert topics.ACCOUNT_DELETED not in [topic for _id, topic in account.publisher.published]
    assert (await account.me(tokens["access_token"])).status_code == 200


async def test_an_api_key_cannot_delete_the_account_and_a_body_is_required(account: Account) -> None:
    tokens = await account.sign_in()
    headers = bearer(tokens["access_token"])
    key = (await account.client.post("/api/keys", json={"name": "laptop"}, headers=headers)).json()["key"]

    with_key = await account.delete_me(key)
    without_body = await account.client.request("DELETE", "/api/auth/me", headers=headers)

    assert with_key.status_code == 403
    assert without_body.status_code == 422
    assert (await account.me(tokens["access_token"])).status_code == 200


async def test_deleting_a_stripe_subscriber_cancels_the_subscription_at_stripe_at_once(
    tmp_path: Path, fake_stripe: FakeStripe
) -> None:
    stripe = {
        "stripe_secret_key": fake_stripe.api_key,
        "stripe_api_base": fake_stripe.api_base,
        "stripe_price_plus": fake_stripe.prices["plus"],
        "stripe_price_pro": fake_stripe.prices["pro"],
    }
    publisher = InMemoryPublisher()
    container = memory_container(tmp_path, settings=stripe, publisher=publisher)
    async with app_client(container) as client:
        account = Account(client, container, InMemoryMailer(), publisher)
        token = await verified_user_token(container, ADA)
        body = {"plan": "plus", "payment_method_id": "pm_card_visa"}
        subscribed = await client.post("/api/billing/subscribe", json=body, headers=bearer(token))
        assert subscribed.json()["status"] == "active", subscribed.text

        assert (await account.delete_me(token)).status_code == 204
        await account.run_jobs()
        await account.run_jobs()

    [subscription] = fake_stripe.subscriptions
    assert subscription["status"] == "canceled"
    assert [r.status for r in fake_stripe.requests if r.method == "DELETE"] == [200]
