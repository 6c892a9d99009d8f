"""A real SMTP server for tests (aiosmtpd, on 127.0.0.1 in its own thread) that keeps what it receives.

`smtp_server` accepts anyone; `smtp_auth_server` demands AUTH (LOGIN or PLAIN) with SMTP_USER/SMTP_PASSWORD
first; `unresponsive_smtp_port` is a port that takes the TCP connection and then never says a word, which is
how a hung server looks to a client."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
SMTP_USER = "parley"
SMTP_PASSWORD = "smtp-secret"


@dataclass(frozen=True, slots=True)
class ReceivedEmail:
    """One accepted message: the SMTP envelope and the message parsed as a mail client would."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


class RecordingHandler:
    """aiosmtpd handler that stores each accepted message and wakes whoever waits for it. It runs on the
    server's thread, so the list is guarded by a condition the test side waits on."""

    def __init__(self) -> None:
        self._received: list[ReceivedEmail] = []
        self._arrived = threading.Condition()
        self._refusals: dict[str, str] = {}

    def refuse(self, address: str, reply: str = "550 5.1.1 Mailbox unavailable") -> None:
        """Answer RCPT TO:<address> with `reply` from now on."""
        self._refusals[address.lower()] = reply

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        refusal = self._refusals.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        assert raw is not None and envelope.mail_from is not None
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._arrived:
            self._received.append(ReceivedEmail(envelope.mail_from, tuple(envelope.rcpt_tos), parsed))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    @property
    def received(self) -> list[ReceivedEmail]:
        with self._arrived:
            return list(self._received)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedEmail]:
        """Return the first `count` messages as soon as they are all in; fail after `timeout` seconds."""

        def wait() -> bool:
            with self._arrived:
                return self._arrived.wait_for(lambda: len(self._received) >= count, timeout)

        if not await asyncio.to_thread(wait):
            raise AssertionError(f"expected {count} message(s) within {timeout} s, got {len(self.received)}")
        return self.received[:count]


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def _serve(port: int, **smtp_options: Any) -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    controller = Controller(handler, hostname=HOST, port=port, **smtp_options)
    controller.start()
    try:
        yield SmtpServer(HOST, port, handler)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(unused_tcp_port_factory: Callable[[], int]) -> Iterator[SmtpServer]:
    yield from _serve(unused_tcp_port_factory())


@pytest.fixture
def smtp_auth_server(unused_tcp_port_factory: Callable[[], int]) -> Iterator[SmtpServer]:
    """Refuses MAIL FROM until the client has logged in. AUTH is allowed without TLS here only because
    the test server has no certificate; the real servers we send through require STARTTLS first."""
    yield from _serve(
        unused_tcp_port_factory(), authenticator=_authenticate, auth_required=True, auth_require_tls=False
    )


@pytest.fixture
def unresponsive_smtp_port() -> Iterator[int]:
    """A listening socket nobody accepts on: the kernel completes the TCP handshake, no greeting ever comes."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind((HOST, 0))
        listener.listen(8)
        yield listener.getsockname()[1]
