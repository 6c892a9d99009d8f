"""Real `parley serve` / `parley worker` processes for e2e tests, and the mailbox they write to."""

from __future__ import annotations

import email
import email.policy
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import httpx

PARLEY = str(Path(sys.executable).with_name("parley"))
START_TIMEOUT_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(workdir: Path, **extra: str) -> dict[str, str]:
    """A clean environment: nothing of the developer's PARLEY_* or provider keys leaks into the server."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "OPENAI_", "ANTHROPIC_", "STRIPE_"))}
    return {**keep, "PARLEY_OUTBOX_POLL_SECONDS": "0.2", "PARLEY_LOG_LEVEL": "INFO", **extra}


@dataclass
class ServerProcess:
    url: str
    workdir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_process(
    args: list[str], workdir: Path, env: dict[str, str], name: str
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = workdir / f"{name}.log"
    out = log_path.open("wb")
    process = subprocess.Popen([PARLEY, *args], cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, log_path


def start_server(workdir: Path, env: dict[str, str], name: str = "server") -> ServerProcess:
    port = free_port()
    process, log_path = start_process(["serve", "--port", str(port)], workdir, env, name)
    server = ServerProcess(f"http://127.0.0.1:{port}", workdir, process, log_path)
    wait_until_healthy(server)
    return server


def wait_until_healthy(server: ServerProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling a process we do not control: there is no event to await
    server.stop()
    raise RuntimeError(f"server did not become healthy:\n{server.log()}")


@dataclass
class Mailbox:
    """Reads the .eml files the file mailer writes under a directory."""

    directory: Path
    seen: set[str] = field(default_factory=set)

    def messages(self, to: str | None = None) -> list[EmailMessage]:
        found = []
        for path in sorted(self.directory.glob("*.eml")) if self.directory.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            if to is None or message["To"] == to:
                found.append(message)
        return found

    def wait_for(self, to: str, count: int = 1, timeout: float = 20.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages(to)
            if len(messages) >= count:
                return messages
            time.sleep(0.05)  # the mailer is another process: poll its output directory
        raise AssertionError(f"expected {count} email(s) to {to}, found {len(self.messages(to))}")


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_token(message: EmailMessage, path: str) -> str:
    match = re.search(rf"{re.escape(path)}\?token=([A-Za-z0-9_\-]+)", text_of(message))
    assert match, f"no {path} link in: {text_of(message)}"
    return match.group(1)


def running_server(workdir: Path, **env: str) -> Iterator[ServerProcess]:
    server = start_server(workdir, base_env(workdir, **env))
    try:
        yield server
    finally:
        server.stop()
