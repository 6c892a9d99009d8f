"""What an operator of the embedded default sees: files under ./var, JSON logs with request ids and no
secrets, per-IP limits that believe X-Forwarded-For only from trusted proxies, links that point at the
server's own port, /metrics, the admin command."""

from __future__ import annotations

import json
import stat
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.support.server import PARLEY, Mailbox, ServerProcess, base_env, link_token, text_of

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "marmalade glacier tuba sonnet"


def _parley(workdir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PARLEY, *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=workdir,
        env=base_env(workdir),
        timeout=60,
        check=False,
    )


def _signed_up_and_in(client: httpx.Client, mailbox: Mailbox, email: str) -> dict[str, str]:
    client.post("/api/auth/signup", json={"email": email, "password": PASSWORD})
    client.post("/api/auth/verify-email", json={"token": link_token(mailbox.wait_for(email)[0], "/verify-email")})
    tokens: dict[str, str] = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()
    return tokens


def test_embedded_default_keeps_its_state_under_var(server: ServerProcess) -> None:
    var = server.workdir / "var"
    assert (var / "parley.db").exists()
    key = var / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_text().strip()) >= 43


def test_logs_are_json_with_request_ids_and_no_secrets(
    client: httpx.Client, mailbox: Mailbox, server: ServerProcess
) -> None:
    email = f"logs-{uuid.uuid4().hex[:8]}@example.com"
    client.post(
        "/api/auth/signup", json={"email": email, "password": PASSWORD}, headers={"X-Request-ID": "req-signup-1"}
    )
    token = link_token(mailbox.wait_for(email)[0], "/verify-email")
    client.post("/api/auth/verify-email", json={"token": token})
    tokens = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).json()
    client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "req-signup-1" and line["event"] == "auth.signup" for line in lines)
    assert any(line.get("request_id") == "req-signup-1" and line["event"] == "http.request" for line in lines)
    text = server.log()
    for secret in (PASSWORD, token, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in text


def test_chatting_does_not_load_the_analytics_engine(
    client: httpx.Client, mailbox: Mailbox, server: ServerProcess
) -> None:
    """DuckDB (a quarter of an idle API process's memory) is loaded by the first analytics answer or export,
    not by serving chats: an API process behind a worker never carries it."""
    tokens = _signed_up_and_in(client, mailbox, f"lean-{uuid.uuid4().hex[:8]}@example.com")
    reply = client.post(
        "/api/chat", json={"content": "Hello"}, headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert reply.status_code == 200, reply.text

    libraries = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert ".so" in libraries  # the map lists the process's shared libraries
    assert "_duckdb" not in libraries


def test_signup_limit_is_per_client_address(server: ServerProcess) -> None:
    body = {"password": PASSWORD}
    with httpx.Client(base_url=server.url, headers={"X-Forwarded-For": "192.0.2.77"}) as client:
        answers = [
            client.post("/api/auth/signup", json={**body, "email": f"rl{i}-{uuid.uuid4().hex[:6]}@example.com"})
            for i in range(6)
        ]
    assert [a.status_code for a in answers] == [202] * 5 + [429]
    assert [a.headers["RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
    assert answers[0].headers["RateLimit-Limit"] == "5"
    assert 3500 <= int(answers[5].headers["Retry-After"]) <= 3600
    assert answers[5].json()["type"].endswith("rate-limited")
    # Another client address is unaffected.
    other = httpx.post(
        f"{server.url}/api/auth/signup",
        json={**body, "email": f"other-{uuid.uuid4().hex[:6]}@example.com"},
        headers={"X-Forwarded-For": "192.0.2.78"},
    )
    assert other.status_code == 202


def test_forwarded_for_is_ignored_from_untrusted_peers(tmp_path, server: ServerProcess) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import running_server

    servers = running_server(tmp_path)  # no trusted proxies at all
    plain = next(servers)
    try:
        statuses = [
            httpx.post(
                f"{plain.url}/api/auth/forgot-password",
                json={"email": "someone@example.com"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(4)
        ]
        assert statuses == [202, 202, 202, 429]  # 3/hour per email, whatever the header claims
    finally:
        servers.close()


def test_create_admin_reads_the_password_from_stdin(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = base_env(tmp_path)
    done = subprocess.run(
        [PARLEY, "users", "create-admin", "root@example.com"],
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    weak = subprocess.run(
        [PARLEY, "users", "create-admin", "weak@example.com"],
        input="short\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )
    assert weak.returncode == 1 and "password" in weak.stderr

    from tests.support.server import running_server

    servers = running_server(tmp_path)
    admin_server = next(servers)
    try:
        tokens = httpx.post(
            f"{admin_server.url}/api/auth/signin", json={"email": "root@example.com", "password": PASSWORD}
        ).json()
        assert tokens["user"]["role"] == "admin" and tokens["user"]["email_verified"] is True
    finally:
        servers.close()


def test_email_links_point_at_the_port_serve_listens_on(
    client: httpx.Client, mailbox: Mailbox, server: ServerProcess
) -> None:
    email = f"links-{uuid.uuid4().hex[:8]}@example.com"
    client.post("/api/auth/signup", json={"email": email, "password": PASSWORD})

    text = text_of(mailbox.wait_for(email)[0])

    assert server.url != "http://127.0.0.1:8000"  # a free port, never the default one
    assert f"{server.url}/verify-email?token=" in text


def test_metrics_are_prometheus_text_with_one_charset(client: httpx.Client) -> None:
    answer = client.get("/metrics")

    assert answer.status_code == 200
    content_type = answer.headers["Content-Type"]
    assert content_type.startswith("text/plain; version=") and content_type.count("charset=") == 1
    assert "parley_http_requests_total" in answer.text


def test_create_admin_promotes_an_existing_user_who_keeps_their_password_and_sessions(
    client: httpx.Client, mailbox: Mailbox, server: ServerProcess
) -> None:
    email = f"promoted-{uuid.uuid4().hex[:8]}@example.com"
    tokens = _signed_up_and_in(client, mailbox, email)

    # A password on stdin, as an operator used to give: a promotion does not read it.
    done = _parley(server.workdir, "users", "create-admin", email, stdin=f"{NEW_PASSWORD}\n")

    assert done.returncode == 0, done.stderr
    assert "promoted" in done.stdout
    again = client.post("/api/auth/signin", json={"email": email, "password": PASSWORD})
    assert again.status_code == 200 and again.json()["user"]["role"] == "admin"
    assert client.post("/api/auth/signin", json={"email": email, "password": NEW_PASSWORD}).status_code == 401
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["role"] == "admin"


def test_create_admin_reset_password_revokes_every_session(
    client: httpx.Client, mailbox: Mailbox, server: ServerProcess
) -> None:
    email = f"reset-{uuid.uuid4().hex[:8]}@example.com"
    tokens = _signed_up_and_in(client, mailbox, email)

    done = _parley(server.workdir, "users", "create-admin", email, "--reset-password", stdin=f"{NEW_PASSWORD}\n")

    assert done.returncode == 0, done.stderr
    assert NEW_PASSWORD not in done.stdout + done.stderr
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 401
    assert client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert client.post("/api/auth/signin", json={"email": email, "password": PASSWORD}).status_code == 401
    signed_in = client.post("/api/auth/signin", json={"email": email, "password": NEW_PASSWORD})
    assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == "admin"
