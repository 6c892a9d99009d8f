"""Accounts on a running server, made the way a client makes them: signup, emailed link, verify, signin."""

from __future__ import annotations

import uuid

import httpx

from tests.support.server import Mailbox, ServerProcess, link_token

PASSWORD = "correct horse battery staple"


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_up_and_verified(client: httpx.Client, mailbox: Mailbox, email: str, password: str = PASSWORD) -> None:
    assert client.post("/api/auth/signup", json={"email": email, "password": password}).status_code == 202
    token = link_token(mailbox.wait_for(email)[0], "/verify-email")
    assert client.post("/api/auth/verify-email", json={"token": token}).status_code == 200


def verified_access_token(client: httpx.Client, mailbox: Mailbox, email: str | None = None) -> str:
    email = email or new_email()
    signed_up_and_verified(client, mailbox, email)
    response = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200
    return str(response.json()["access_token"])


def verified_api_key(server: ServerProcess, name: str) -> str:
    """A new verified user's API key named `name` on `server` (its mailbox under ./var/mail)."""
    mailbox = Mailbox(server.workdir / "var" / "mail")
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        token = verified_access_token(client, mailbox)
        response = client.post("/api/keys", json={"name": name}, headers=bearer(token))
        assert response.status_code == 201, response.text
        return str(response.json()["key"])
