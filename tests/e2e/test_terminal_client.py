"""`parley chat` in a pseudo-terminal against a real `parley serve`: it signs in once and keeps a refresh token
only its user can read, a reply streams as it arrives, Ctrl-C cuts a reply and leaves the partial reply stored
(and charged), /usage and /models answer inside the prompt, and --json serves scripts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pexpect
import pytest

from tests.support.server import PARLEY, ServerProcess, running_server

PASSWORD = "correct horse battery staple"
TIMEOUT = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # A slow demo model (a word every 150 ms), so a reply is still streaming when Ctrl-C comes.
    yield from running_server(
        tmp_path_factory.mktemp("terminal"), PARLEY_REQUIRE_VERIFIED_EMAIL="false", PARLEY_DEMO_DELAY_MS="150"
    )


@pytest.fixture
def account(server: ServerProcess) -> tuple[str, str]:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    httpx.post(f"{server.url}/api/auth/signup", json={"email": email, "password": PASSWORD}).raise_for_status()
    token = httpx.post(f"{server.url}/api/auth/signin", json={"email": email, "password": PASSWORD}).json()
    return email, token["access_token"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    return {**keep, "XDG_CONFIG_HOME": str(home / "config"), "HOME": str(home), "TERM": "dumb", **extra}


def _spawn(server: ServerProcess, home: Path, *args: str, **env: str) -> pexpect.spawn:
    child = pexpect.spawn(
        PARLEY, ["chat", "--url", server.url, *args], env=_env(home, **env), encoding="utf-8", timeout=TIMEOUT
    )
    return child


def _conversation(server: ServerProcess, access: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {access}"}
    [newest] = httpx.get(f"{server.url}/api/conversations", headers=headers).json()["items"][:1]
    detail: dict[str, object] = httpx.get(f"{server.url}/api/conversations/{newest['id']}", headers=headers).json()
    return detail


def test_signing_in_once_a_reply_streams_and_the_refresh_token_is_kept_private(
    server: ServerProcess, account: tuple[str, str], tmp_path: Path
) -> None:
    email, access = account
    child = _spawn(server, tmp_path)
    child.expect("Email: ")
    child.sendline(email)
    child.expect("Password: ")
    child.sendline(PASSWORD)
    child.expect("> ")
    child.sendline("Hello from a terminal")
    child.expect("Hello from a terminal\r\n")  # the terminal's echo of what was typed
    # The reply arrives in pieces: its first words show before the quota line that ends it.
    child.expect(r"\w+ \w+")
    child.expect(r"\[([\d,]+) tokens left\]")
    child.expect("> ")
    child.sendline("/usage")
    child.expect(r"free: [\d,]+ of [\d,]+ tokens used")
    child.sendline("/quit")
    child.expect(pexpect.EOF)

    stored = tmp_path / "config" / "parley" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    messages = _conversation(server, access)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]  # type: ignore[index]

    again = _spawn(server, tmp_path)  # the kept refresh token signs in: no question asked
    again.expect("> ")
    again.sendline("/models")
    again.expect(r"parley-demo-large  \[demo\]  \(not on your plan\)")
    again.sendeof()
    again.expect(pexpect.EOF)


def test_ctrl_c_cuts_a_reply_and_the_partial_reply_is_stored(
    server: ServerProcess, account: tuple[str, str], tmp_path: Path
) -> None:
    _email, access = account
    key = httpx.post(
        f"{server.url}/api/keys", json={"name": "terminal"}, headers={"Authorization": f"Bearer {access}"}
    ).json()["key"]
    child = _spawn(server, tmp_path, PARLEY_API_KEY=key)
    child.expect("> ")
    child.sendline("Tell me a long story about terminals")
    child.expect("terminals\r\n")  # the terminal's echo of what was typed
    child.expect(r"\w+ \w+ \w+")  # a few words in, the reply is still coming (a word every 150 ms)
    child.sendintr()
    child.expect(r"\[cut\]")
    child.expect("> ")
    child.sendline("/quit")
    child.expect(pexpect.EOF)

    def stored_reply() -> dict[str, object] | None:
        messages = _conversation(server, access)["messages"]
        return next((m for m in messages if m["role"] == "assistant"), None)  # type: ignore[union-attr]

    reply = stored_reply()
    for _ in range(50):  # the server stores the cut reply once it sees the connection gone
        if reply is not None:
            break
        httpx.get(f"{server.url}/health")
        reply = stored_reply()
    assert reply is not None and reply["content"]
    assert "usage" in reply and reply["usage"]["completion_tokens"] > 0  # type: ignore[index]
    assert not (tmp_path / "config" / "parley" / "credentials.json").exists()  # an API key is never stored


def test_json_mode_answers_one_line_per_message(
    server: ServerProcess, account: tuple[str, str], tmp_path: Path
) -> None:
    _email, access = account
    key = httpx.post(
        f"{server.url}/api/keys", json={"name": "script"}, headers={"Authorization": f"Bearer {access}"}
    ).json()["key"]
    result = subprocess.run(
        [PARLEY, "chat", "--url", server.url, "--json"],
        input="First question\nSecond question\n",
        capture_output=True,
        text=True,
        env=_env(tmp_path, PARLEY_API_KEY=key),
        timeout=TIMEOUT * 2,
        check=True,
    )
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["content"] and first["finish_reason"] == "stop" and first["usage"]["total_tokens"] > 0
    assert second["conversation_id"] == first["conversation_id"]  # the script's lines are one conversation
    assert second["quota"]["used"] > first["quota"]["used"]
