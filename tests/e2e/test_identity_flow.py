"""The identity journey through a real `parley serve` on the embedded default, as a client sees it:
signup -> emailed link -> verify -> signin -> refresh -> signout -> forgot/reset, name and password changes,
and API keys."""

from __future__ import annotations

import httpx

from tests.support.accounts import PASSWORD, bearer, new_email, signed_up_and_verified
from tests.support.server import Mailbox, ServerProcess, link_token


def test_signup_verify_signin_refresh_signout(client: httpx.Client, mailbox: Mailbox, server: ServerProcess) -> None:
    email = new_email()
    first = client.post("/api/auth/signup", json={"email": email, "password": PASSWORD, "name": "Ada"})
    assert first.status_code == 202

    [message] = mailbox.wait_for(email)
    assert message["Subject"]
    token = link_token(message, "/verify-email")
    assert f"{server.url}/verify-email?token=" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # A second signup with the same address: same answer, and the owner is told by email instead.
    again = client.post("/api/auth/signup", json={"email": email, "password": "another long password"})
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert len(mailbox.wait_for(email, count=2)) == 2

    signin = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD})
    assert signin.status_code == 200
    assert signin.json()["user"]["email_verified"] is False  # unverified users may sign in and read

    verified = client.post("/api/auth/verify-email", json={"token": token})
    assert verified.status_code == 200
    assert verified.json()["email_verified"] is True and verified.json()["name"] == "Ada"
    reused = client.post("/api/auth/verify-email", json={"token": token})
    assert reused.status_code == 400 and reused.json()["type"].endswith("invalid-token")

    tokens = client.post("/api/auth/signin", json={"email": email.upper(), "password": PASSWORD}).json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0
    me = client.get("/api/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == email and me.json()["role"] == "user" and me.json()["plan"] == "free"

    rotated = client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert client.get("/api/auth/me", headers=bearer(new["access_token"])).status_code == 200

    # Replaying the spent refresh token revokes the whole session: every token of it answers 401.
    replay = client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["type"].endswith("invalid-token")
    assert client.post("/api/auth/refresh", json={"refresh_token": new["refresh_token"]}).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(new["access_token"])).status_code == 401

    session = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()
    other = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()
    out = client.post("/api/auth/signout", headers=bearer(session["access_token"]), json={})
    assert out.status_code == 204
    assert client.get("/api/auth/me", headers=bearer(session["access_token"])).status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_wrong_password_and_unknown_email_look_the_same(client: httpx.Client, mailbox: Mailbox) -> None:
    email = new_email()
    signed_up_and_verified(client, mailbox, email)
    wrong = client.post("/api/auth/signin", json={"email": email, "password": "not the right password"})
    unknown = client.post("/api/auth/signin", json={"email": new_email(), "password": "not the right password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["type"].endswith("invalid-credentials")
    assert wrong.headers["content-type"].startswith("application/problem+json")


def test_forgot_and_reset_password(client: httpx.Client, mailbox: Mailbox) -> None:
    email = new_email()
    signed_up_and_verified(client, mailbox, email)
    session = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()

    unknown = client.post("/api/auth/forgot-password", json={"email": new_email()})
    known = client.post("/api/auth/forgot-password", json={"email": email})
    assert unknown.status_code == known.status_code == 202 and unknown.json() == known.json()
    reset_mail = mailbox.wait_for(email, count=2)[-1]
    token = link_token(reset_mail, "/reset-password")

    weak = client.post("/api/auth/reset-password", json={"token": token, "password": "short"})
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"
    new_password = "a brand new passphrase"
    done = client.post("/api/auth/reset-password", json={"token": token, "password": new_password})
    assert done.status_code == 200 and "access_token" not in done.json()  # no automatic sign-in
    again = client.post("/api/auth/reset-password", json={"token": token, "password": "yet another passphrase"})
    assert again.status_code == 400 and again.json()["type"].endswith("invalid-token")

    # Every session of the user is gone; the old password no longer works, the new one does.
    assert client.get("/api/auth/me", headers=bearer(session["access_token"])).status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": session["refresh_token"]}).status_code == 401
    assert client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).status_code == 401
    assert client.post("/api/auth/signin", json={"email": email, "password": new_password}).status_code == 200


def test_edit_the_name_and_change_the_password(client: httpx.Client, mailbox: Mailbox) -> None:
    email = new_email()
    signed_up_and_verified(client, mailbox, email)
    session = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()
    other = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()
    auth = bearer(session["access_token"])

    named = client.patch("/api/auth/me", json={"name": "  Ada Lovelace "}, headers=auth)
    assert named.status_code == 200 and named.json()["name"] == "Ada Lovelace"
    blank = client.patch("/api/auth/me", json={"name": " "}, headers=auth)
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "name"
    assert client.get("/api/auth/me", headers=auth).json()["name"] == "Ada Lovelace"

    new_password = "a fresh and private passphrase"
    body = {"current_password": "not my password at all", "new_password": new_password}
    wrong = client.post("/api/auth/change-password", json=body, headers=auth)
    assert wrong.status_code == 401 and wrong.json()["type"].endswith("invalid-credentials")
    body = {"current_password": PASSWORD, "new_password": new_password}
    changed = client.post("/api/auth/change-password", json=body, headers=auth)
    assert changed.status_code == 200, changed.text
    fresh = changed.json()

    # The new pair works; every earlier session (the calling one too) is gone; the owner is told by email.
    assert client.get("/api/auth/me", headers=bearer(fresh["access_token"])).json()["name"] == "Ada Lovelace"
    for old in (session, other):
        assert client.get("/api/auth/me", headers=bearer(old["access_token"])).status_code == 401
        assert client.post("/api/auth/refresh", json={"refresh_token": old["refresh_token"]}).status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": fresh["refresh_token"]}).status_code == 200
    assert "password was changed" in str(mailbox.wait_for(email, count=2)[-1]["Subject"])
    assert client.post("/api/auth/signin", json={"email": email, "password": new_password}).status_code == 200


def test_export_then_delete_the_account_and_sign_up_again(client: httpx.Client, mailbox: Mailbox) -> None:
    email = new_email()
    signed_up_and_verified(client, mailbox, email)
    session = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()
    auth = bearer(session["access_token"])
    key = client.post("/api/keys", json={"name": "script"}, headers=auth).json()["key"]
    assert client.post("/api/chat", json={"content": "Why is the sky blue?"}, headers=auth).status_code == 200

    exported = client.get("/api/auth/me/export", headers=auth)
    assert exported.status_code == 200, exported.text
    document = exported.json()
    assert document["profile"]["email"] == email and document["subscription"] is None
    assert [len(c["messages"]) for c in document["conversations"]] == [2] and len(document["usage"]) == 1
    assert "password" not in exported.text and key not in exported.text

    wrong = client.request("DELETE", "/api/auth/me", json={"password": "not my password at all"}, headers=auth)
    assert wrong.status_code == 401 and wrong.json()["type"].endswith("invalid-credentials")
    deleted = client.request("DELETE", "/api/auth/me", json={"password": PASSWORD}, headers=auth)
    assert deleted.status_code == 204, deleted.text

    for credential in (session["access_token"], key):
        assert client.get("/api/auth/me", headers=bearer(credential)).status_code == 401
    assert client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).status_code == 401
    # The address is free again: signing up with it sends a fresh verification link, not "already registered".
    assert client.post("/api/auth/signup", json={"email": email, "password": PASSWORD}).status_code == 202
    newest = mailbox.wait_for(email, count=2)[-1]
    assert client.post("/api/auth/verify-email", json={"token": link_token(newest, "/verify-email")}).is_success


def test_api_keys_are_shown_once_and_revocable(client: httpx.Client, mailbox: Mailbox) -> None:
    email = new_email()
    signed_up_and_verified(client, mailbox, email)
    access = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()["access_token"]

    created = client.post("/api/keys", json={"name": "laptop"}, headers=bearer(access))
    assert created.status_code == 201
    key = created.json()
    assert key["key"].startswith(key["prefix"]) and key["name"] == "laptop"

    listed = client.get("/api/keys", headers=bearer(access)).json()["items"]
    assert [item["id"] for item in listed] == [key["id"]]
    assert "key" not in listed[0]
    assert client.get("/api/auth/me", headers=bearer(key["key"])).json()["email"] == email

    assert client.delete(f"/api/keys/{key['id']}", headers=bearer(access)).status_code == 204
    assert client.get("/api/auth/me", headers=bearer(key["key"])).status_code == 401
    assert client.delete(f"/api/keys/{key['id']}", headers=bearer(access)).status_code == 404


def test_errors_are_problem_details_with_request_ids(client: httpx.Client) -> None:
    missing = client.get("/api/auth/me")
    assert missing.status_code == 401 and missing.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/auth/me", headers=bearer("not-a-token")).status_code == 401

    echoed = client.get("/health", headers={"X-Request-ID": "trace-123.abc:9"})
    assert echoed.headers["x-request-id"] == "trace-123.abc:9"
    replaced = client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert replaced.headers["x-request-id"] not in ("", "bad id with spaces")

    assert client.get("/no/such/route").json()["status"] == 404
    wrong_method = client.delete("/api/auth/signin")
    assert wrong_method.status_code == 405 and wrong_method.json()["type"].endswith("method-not-allowed")
    too_big = client.post(
        "/api/auth/signup", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert too_big.status_code == 413 and too_big.json()["type"].endswith("payload-too-large")
    invalid = client.post("/api/auth/signup", json={"email": "nobody", "password": PASSWORD})
    assert invalid.status_code == 422 and invalid.json()["errors"] == [
        {"field": "email", "message": "Enter a valid email address."}
    ]
    not_json = client.post("/api/auth/signin", content=b"{", headers={"content-type": "application/json"})
    assert not_json.status_code in (400, 422) and "detail" in not_json.json()


def test_operations_endpoints(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}
    client.get("/api/auth/me")
    metrics = client.get("/metrics").text
    assert 'parley_http_requests_total{method="GET",route="/api/auth/me",status="401"}' in metrics
    spec = client.get("/schema/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    signin = spec["paths"]["/api/auth/signin"]["post"]["responses"]
    assert {"200", "401", "422", "429"} <= set(signin)
