"""`parley users list|disable|enable` against a running `parley serve`: the command line and the server share the
database, so a disabled account is refused by the server at once, and the admin routes show what was done."""

from __future__ import annotations

import time
import uuid

import httpx

from tests.e2e.test_embedded_operations import PASSWORD, _parley, _signed_up_and_in
from tests.support.server import Mailbox, ServerProcess


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_disable_and_enable_from_the_command_line_reach_the_running_server(
    client: httpx.Client, mailbox: Mailbox, server: ServerProcess
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, root = f"disabled-{tag}@example.com", f"root-{tag}@example.com"
    tokens = _signed_up_and_in(client, mailbox, email)
    key = client.post("/api/keys", json={"name": "ci"}, headers=_bearer(tokens["access_token"])).json()["key"]

    done = _parley(server.workdir, "users", "disable", email.upper())

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"disabled: {email}"
    for credential in (tokens["access_token"], key):
        assert client.get("/api/auth/me", headers=_bearer(credential)).status_code == 401
    signin = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD})
    assert signin.status_code == 401 and signin.json()["type"].endswith("account-disabled")
    listed = _parley(server.workdir, "users", "list", "--q", f"DISABLED-{tag}")
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[:4] for line in listed.stdout.splitlines()] == [[email, "user", "free", "disabled"]]

    enabled = _parley(server.workdir, "users", "enable", email)

    assert enabled.returncode == 0 and enabled.stdout.strip() == f"enabled: {email}"
    assert client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).status_code == 200
    assert client.get("/api/auth/me", headers=_bearer(tokens["access_token"])).status_code == 401

    assert _parley(server.workdir, "users", "create-admin", root, stdin=f"{PASSWORD}\n").returncode == 0
    admin = client.post("/api/auth/signin", json={"email": root, "password": PASSWORD}).json()
    found = client.get("/api/admin/users", params={"q": email}, headers=_bearer(admin["access_token"])).json()
    target = found["items"][0]["id"]
    page = client.get("/api/admin/audit", params={"target_id": target}, headers=_bearer(admin["access_token"]))
    entries = page.json()["items"]
    assert [(e["action"], e["actor"], e["actor_id"]) for e in entries] == [
        ("user.enabled", "cli", None),
        ("user.disabled", "cli", None),
    ]
    assert entries[1]["details"] == {"sessions_revoked": 1, "api_keys_revoked": 1}
    listings = client.get("/api/admin/audit", params={"action": "users.listed"}, headers=_bearer(admin["access_token"]))
    assert {"q": f"DISABLED-{tag}"} in [entry["details"] for entry in listings.json()["items"]]


def test_disabling_an_unknown_address_fails_plainly(server: ServerProcess) -> None:
    done = _parley(server.workdir, "users", "disable", "nobody-here@example.com")

    assert done.returncode == 1
    assert "No user has that email address." in done.stderr


def test_a_grant_from_the_command_line_raises_the_limit_the_server_shows_at_once(
    client: httpx.Client, mailbox: Mailbox, server: ServerProcess
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, root = f"granted-{tag}@example.com", f"root-{tag}@example.com"
    tokens = _signed_up_and_in(client, mailbox, email)
    before = client.get("/api/usage", headers=_bearer(tokens["access_token"])).json()

    done = _parley(server.workdir, "users", "grant", email, "5000", "--reason", "Support ticket 42")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"granted: 5000 tokens to {email} until ")
    # The embedded default keeps its quota counters in the server's own process: the command line's grant reaches
    # them through the outbox (the grant's job, which the server runs within a poll of its relay).
    deadline = time.monotonic() + 20
    after = client.get("/api/usage", headers=_bearer(tokens["access_token"])).json()
    while after["limit"] == before["limit"] and time.monotonic() < deadline:
        after = client.get("/api/usage", headers=_bearer(tokens["access_token"])).json()
    assert after["limit"] == before["limit"] + 5000 and after["remaining"] == before["remaining"] + 5000
    assert _parley(server.workdir, "users", "create-admin", root, stdin=f"{PASSWORD}\n").returncode == 0
    admin = client.post("/api/auth/signin", json={"email": root, "password": PASSWORD}).json()
    target = client.get("/api/admin/users", params={"q": email}, headers=_bearer(admin["access_token"]))
    entries = client.get(
        "/api/admin/audit",
        params={"target_id": target.json()["items"][0]["id"], "action": "user.grant"},
        headers=_bearer(admin["access_token"]),
    ).json()["items"]
    assert [(e["actor"], e["details"].get("tokens"), e["details"].get("reason")) for e in entries] == [
        ("cli", 5000, "Support ticket 42")
    ]


def test_a_grant_out_of_range_or_for_nobody_changes_nothing(server: ServerProcess) -> None:
    zero = _parley(server.workdir, "users", "grant", "nobody-here@example.com", "0", "--reason", "x")
    nobody = _parley(server.workdir, "users", "grant", "nobody-here@example.com", "10", "--reason", "x")

    assert zero.returncode != 0 and "tokens" in zero.stderr
    assert nobody.returncode == 1 and "No user has that email address." in nobody.stderr
