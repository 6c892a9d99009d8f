"""Turns our EmailMessage into a MIME message in one place, so every mailer sends (or writes) the same thing."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime, make_msgid, parseaddr

from application.shared.ports import EmailMessage

SMTP_LINE_LIMIT = 998
"""RFC 5321/5322's hard limit on a line, CRLF excluded."""


def message_id_header(message_id: str | None, sender: str) -> str:
    """`<id@sender-domain>`: built from the stable job id when there is one, so every retry of one job
    carries the same Message-ID and downstream systems can recognise the duplicate."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "parley"
    if message_id is None:
        return make_msgid(domain=domain)
    return f"<{message_id}@{domain}>"


def build_mime(message: EmailMessage, sender: str) -> MimeMessage:
    """A multipart/alternative message (plain text first, HTML preferred by clients that can show it).
    The SMTP policy gives CRLF line endings and 7-bit headers, as servers expect; a header value holding a
    line break raises ValueError instead of letting one header inject another."""
    mime = MimeMessage(policy=policy.SMTP)
    mime["From"] = sender
    mime["To"] = message.to
    mime.set_raw("Subject", encode_subject(message.subject))
    mime["Date"] = format_datetime(datetime.now(UTC))
    mime["Message-ID"] = message_id_header(message.message_id, sender)
    for name, value in message.headers.items():
        mime[name] = value
    mime.set_content(message.text, cte=transfer_encoding(message.text))
    mime.add_alternative(message.html, subtype="html", cte=transfer_encoding(message.html))
    return mime


def encode_subject(subject: str) -> str:
    """The subject as folded RFC 2047 encoded words. The stdlib's folding (3.11) drops a space that falls on
    a fold between two encoded words (readers ignore whitespace there), which garbles long non-ASCII
    subjects; the legacy Header encoder keeps such spaces inside the words. `set_raw` stores the result
    unchanged, so the value is checked here for line breaks as header assignment would."""
    if "\r" in subject or "\n" in subject:
        raise ValueError("Header values may not contain linefeed or carriage return characters")
    charset = None if subject.isascii() else "utf-8"
    return Header(subject, charset, header_name="Subject").encode()


def transfer_encoding(body: str) -> str:
    """7bit (the body as written, so a link copied out of a raw .eml works) when every server must accept it;
    otherwise quoted-printable, which also passes servers that refuse 8-bit bodies."""
    if body.isascii() and all(len(line) <= SMTP_LINE_LIMIT for line in body.encode("ascii").splitlines()):
        return "7bit"
    return "quoted-printable"
