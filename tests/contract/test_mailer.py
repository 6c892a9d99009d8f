"""One suite for every Mailer: what a user's mail client would show must be what the use case sent.

Each adapter is paired with a way to read back what it delivered: the memory mailer's list, the .eml files
the file mailer wrote, the messages a real SMTP server received."""

from __future__ import annotations

import email
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from email import policy
from email.message import EmailMessage as MimeMessage
from pathlib import Path
from typing import Any

import pytest

from adapters.email.file import FileMailer
from adapters.email.ses import SesMailer
from adapters.email.smtp import PermanentEmailError, SmtpMailer, TransientEmailError
from adapters.memory.mailer import InMemoryMailer
from application.shared.ports import EmailMessage, Mailer
from tests.support.smtp import HOST, SMTP_PASSWORD, SMTP_USER, SmtpServer

SENDER = "Parley <no-reply@parley.test>"


@dataclass(frozen=True, slots=True)
class Delivered:
    to: str
    subject: str
    text: str
    html: str
    message_id: str | None
    """The id the message was sent with, as recovered from what was delivered."""
    headers: dict[str, str] = field(default_factory=dict)
    """The further header fields a message may carry (EXTRA_HEADERS), as delivered."""


EXTRA_HEADERS = ("List-Unsubscribe", "List-Unsubscribe-Post")


@dataclass(frozen=True, slots=True)
class Harness:
    mailer: Mailer
    delivered: Callable[[int], Awaitable[list[Delivered]]]
    """Wait for (up to) n deliveries and return them in sending order."""


def parse_eml(raw: bytes) -> MimeMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, MimeMessage)
    return parsed


def from_mime(mime: MimeMessage) -> Delivered:
    """Read a message as a mail client does. Line breaks travel as CRLF on the wire and in .eml files;
    clients show them as plain line breaks, so they are compared as such."""
    plain, html = mime.get_body(("plain",)), mime.get_body(("html",))
    assert plain is not None and html is not None
    header = str(mime["Message-ID"])
    assert header.startswith("<") and header.endswith("@parley.test>")
    return Delivered(
        to=str(mime["To"]),
        subject=str(mime["Subject"]),
        text=plain.get_content().replace("\r\n", "\n"),
        html=html.get_content().replace("\r\n", "\n"),
        message_id=header[1 : -len("@parley.test>")],
        headers={name: str(mime[name]) for name in EXTRA_HEADERS if mime[name] is not None},
    )


@pytest.fixture(params=["memory", "file", "smtp"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "memory":
        memory = InMemoryMailer()

        async def from_memory(count: int) -> list[Delivered]:
            return [
                Delivered(m.to, m.subject, m.text, m.html, m.message_id, dict(m.headers)) for m in memory.sent[:count]
            ]

        return Harness(memory, from_memory)
    if request.param == "file":
        directory = tmp_path / "mail"

        async def from_files(count: int) -> list[Delivered]:
            files = sorted(directory.glob("*.eml"))[:count]
            return [from_mime(parse_eml(file.read_bytes())) for file in files]

        return Harness(FileMailer(directory, SENDER), from_files)
    server: SmtpServer = request.getfixturevalue("smtp_server")

    async def from_server(count: int) -> list[Delivered]:
        return [from_mime(received.message) for received in await server.handler.wait_for(count)]

    return Harness(SmtpMailer(server.host, server.port, SENDER, timeout=5.0), from_server)


def make_message(**changes: Any) -> EmailMessage:
    return replace(
        EmailMessage(
            to="ada@example.com",
            subject="Confirm your email address for Parley",
            text="Hi Ada,\n\nOpen https://app.example.com/verify-email?token=abc_DEF-123 to confirm.\n",
            html='<p>Hi Ada,</p>\n<p><a href="https://app.example.com/verify-email?token=abc_DEF-123">Confirm</a></p>\n',
            message_id="0192f3a4-5b6c-7d8e-9f00-112233445566",
        ),
        **changes,
    )


async def test_what_was_sent_reads_back_intact(harness: Harness) -> None:
    message = make_message()

    await harness.mailer.send(message)

    [delivered] = await harness.delivered(1)
    assert delivered == Delivered(message.to, message.subject, message.text, message.html, message.message_id)


async def test_extra_headers_arrive_as_given(harness: Harness) -> None:
    link = "<https://app.example.com/unsubscribe?token=abc_DEF-123>"
    headers = {"List-Unsubscribe": link, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}

    await harness.mailer.send(make_message(headers=headers))

    [delivered] = await harness.delivered(1)
    assert delivered.headers == headers


async def test_a_header_with_a_line_break_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        await FileMailer(tmp_path, SENDER).send(make_message(headers={"List-Unsubscribe": "<a>\r\nBcc: x@y.z"}))
    assert list(tmp_path.glob("*.eml")) == []


async def test_non_ascii_subject_and_body_survive(harness: Harness) -> None:
    message = make_message(
        subject="Réinitialisez votre mot de passe ✓ — パスワード",
        text="Bonjour Zoë,\n\nVotre lien expire dans 1 heure. Grüße, 你好 🚀\n",
        html="<p>Bonjour Zoë, «&nbsp;très&nbsp;» bien. 你好 🚀</p>\n",
    )

    await harness.mailer.send(message)

    [delivered] = await harness.delivered(1)
    assert (delivered.subject, delivered.text, delivered.html) == (message.subject, message.text, message.html)


async def test_messages_read_back_in_sending_order(harness: Harness) -> None:
    first, second = make_message(to="first@example.com", message_id="1"), make_message(to="second@example.com")

    await harness.mailer.send(first)
    await harness.mailer.send(second)

    assert [d.to for d in await harness.delivered(2)] == ["first@example.com", "second@example.com"]


# --- file --------------------------------------------------------------------------------------


async def test_file_mailer_names_files_by_time_and_never_overwrites(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "new" / "mail", SENDER)

    for _ in range(3):
        await mailer.send(make_message(message_id="same-job"))
    await mailer.send(make_message(message_id=None))

    names = sorted(p.name for p in (tmp_path / "new" / "mail").iterdir())
    assert len(names) == 4
    assert all(name.endswith(".eml") and not name.startswith(".") for name in names)
    assert all("-same-job.eml" in name for name in names[:3])


async def test_file_mailer_keeps_a_message_id_from_escaping_the_directory(tmp_path: Path) -> None:
    await FileMailer(tmp_path / "mail", SENDER).send(make_message(message_id="../../etc/passwd"))

    [written] = list(tmp_path.rglob("*.eml"))
    assert written.parent == tmp_path / "mail"


async def test_file_mailer_link_can_be_copied_straight_out_of_the_file(tmp_path: Path) -> None:
    """The embedded default's user finds the verification link by opening the .eml in an editor, so a
    link longer than a usual mail line must still be there verbatim, unwrapped and unencoded."""
    link = "https://chat.example.com/verify-email?token=" + "k4Q_x-7Zp" * 5
    await FileMailer(tmp_path, SENDER).send(make_message(text=f"Hi Ada,\n\n{link}\n"))

    [written] = list(tmp_path.glob("*.eml"))
    assert f"\r\n{link}\r\n".encode() in written.read_bytes()


async def test_a_subject_with_a_line_break_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="linefeed"):
        await FileMailer(tmp_path, SENDER).send(make_message(subject="Hello\r\nBcc: everyone@example.com"))
    assert list(tmp_path.iterdir()) == []


# --- smtp --------------------------------------------------------------------------------------


async def test_smtp_envelope_goes_from_the_sender_to_the_recipient(smtp_server: SmtpServer) -> None:
    await SmtpMailer(smtp_server.host, smtp_server.port, SENDER).send(make_message())

    [received] = await smtp_server.handler.wait_for(1)
    assert (received.mail_from, received.rcpt_tos) == ("no-reply@parley.test", ("ada@example.com",))
    assert received.message["From"] == SENDER


async def test_smtp_recipient_refused_with_550_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse("gone@example.com", "550 5.1.1 No such user")

    with pytest.raises(PermanentEmailError, match="550"):
        await SmtpMailer(smtp_server.host, smtp_server.port, SENDER).send(make_message(to="gone@example.com"))
    assert smtp_server.handler.received == []


async def test_smtp_recipient_deferred_with_451_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse("busy@example.com", "451 4.7.1 Try again later")

    with pytest.raises(TransientEmailError, match="451"):
        await SmtpMailer(smtp_server.host, smtp_server.port, SENDER).send(make_message(to="busy@example.com"))


async def test_smtp_server_not_listening_is_transient(unused_tcp_port: int) -> None:
    with pytest.raises(TransientEmailError):
        await SmtpMailer(HOST, unused_tcp_port, SENDER, timeout=2.0).send(make_message())


async def test_smtp_server_that_never_answers_is_transient_within_the_timeout(unresponsive_smtp_port: int) -> None:
    started = time.monotonic()

    with pytest.raises(TransientEmailError):
        await SmtpMailer(HOST, unresponsive_smtp_port, SENDER, timeout=0.5).send(make_message())
    assert time.monotonic() - started < 2.0


PLAIN_AUTH_IS_TEST_ONLY = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


@PLAIN_AUTH_IS_TEST_ONLY
async def test_smtp_logs_in_when_given_credentials(smtp_auth_server: SmtpServer) -> None:
    mailer = SmtpMailer(smtp_auth_server.host, smtp_auth_server.port, SENDER, SMTP_USER, SMTP_PASSWORD)

    await mailer.send(make_message())

    assert len(await smtp_auth_server.handler.wait_for(1)) == 1


@PLAIN_AUTH_IS_TEST_ONLY
@pytest.mark.parametrize(("username", "password"), [(SMTP_USER, "wrong"), (None, None)])
async def test_smtp_bad_or_missing_credentials_are_permanent(
    smtp_auth_server: SmtpServer, username: str | None, password: str | None
) -> None:
    mailer = SmtpMailer(smtp_auth_server.host, smtp_auth_server.port, SENDER, username, password)

    with pytest.raises(PermanentEmailError):
        await mailer.send(make_message())
    assert smtp_auth_server.handler.received == []


async def test_smtp_starttls_asked_of_a_server_without_it_is_permanent(smtp_server: SmtpServer) -> None:
    """Sending credentials and mail in clear because TLS was unavailable would be worse than not sending."""
    with pytest.raises(PermanentEmailError):
        await SmtpMailer(smtp_server.host, smtp_server.port, SENDER, starttls=True).send(make_message())
    assert smtp_server.handler.received == []


# --- ses ---------------------------------------------------------------------------------------


def test_ses_mailer_sends_to_the_regions_smtp_endpoint() -> None:
    mailer = SesMailer("eu-west-1", SENDER, "AKIAEXAMPLE", "ses-smtp-password")

    assert (mailer.host, mailer.port) == ("email-smtp.eu-west-1.amazonaws.com", 587)


def test_ses_mailer_without_credentials_fails_at_startup() -> None:
    with pytest.raises(ValueError, match="PARLEY_SMTP_USERNAME"):
        SesMailer("eu-west-1", SENDER, None, None)


async def test_ses_mailer_never_sends_credentials_without_tls(smtp_server: SmtpServer) -> None:
    mailer = SesMailer("eu-west-1", SENDER, "AKIAEXAMPLE", "ses-smtp-password", host=HOST, port=smtp_server.port)

    with pytest.raises(PermanentEmailError, match="STARTTLS"):
        await mailer.send(make_message())
    assert smtp_server.handler.received == []
