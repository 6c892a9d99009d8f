"""R5: stopping a server with streams open. The stream ends with a final event rather than being cut, the
partial reply is kept and charged, and the process exits within its grace period."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx

from tests.support.accounts import bearer, verified_access_token
from tests.support.server import Mailbox, base_env, start_server


def test_open_streams_end_with_a_final_event_and_are_accounted(tmp_path: Path) -> None:
    env = base_env(tmp_path, PARLEY_DEMO_DELAY_MS="200")
    server = start_server(tmp_path, env)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            headers = bearer(verified_access_token(client, Mailbox(tmp_path / "var" / "mail")))
            events: list[tuple[str, dict]] = []  # type: ignore[type-arg]
            body = {"content": "Tell me a long story about the sea", "stream": True}
            with client.stream("POST", "/api/chat", json=body, headers=headers) as stream:
                name = ""
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        events.append((name, json.loads(line[6:])))
                        if len([e for e in events if e[0] == "delta"]) == 2:
                            server.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        server.process.wait(timeout=30)
        exit_seconds = time.monotonic() - started
    finally:
        server.stop()

    assert events[0][0] == "start" and events[-1][0] == "error"
    assert events[-1][1]["type"].endswith("server-shutting-down")
    assert exit_seconds < 15
    written = "".join(data["text"] for name, data in events if name == "delta")

    restarted = start_server(tmp_path, env, name="restarted")
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            signin = client.post(
                "/api/auth/signin", json={"email": _email_of(tmp_path), "password": "correct horse battery staple"}
            )
            headers = bearer(signin.json()["access_token"])
            conversation_id = events[0][1]["conversation_id"]
            messages = client.get(f"/api/conversations/{conversation_id}", headers=headers).json()["messages"]
            usage = client.get("/api/usage", headers=headers).json()
    finally:
        restarted.stop()
    kept = messages[-1]
    assert kept["role"] == "assistant" and kept["content"].startswith(written) and len(kept["content"]) < 200
    assert usage["used"] > 0


def _email_of(workdir: Path) -> str:
    mailbox = Mailbox(workdir / "var" / "mail")
    return str(mailbox.messages()[0]["To"])
