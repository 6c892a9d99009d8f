"""Sends through any SMTP server with the standard library's smtplib (run in a worker thread), and says
whether a failure is worth retrying."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
from email.message import EmailMessage as MimeMessage

from adapters.email.message import build_mime
from application.shared.ports import EmailMessage


class EmailDeliveryError(Exception):
    """The server did not take the message."""


class PermanentEmailError(EmailDeliveryError):
    """A 5xx reply or a setup the server cannot work with: sending the same message again will fail again."""


class TransientEmailError(EmailDeliveryError):
    """A 4xx reply, a dropped connection or a timeout: the same message may go through later."""


class SmtpMailer:
    """One connection per message: emails are rare enough that a pooled connection would mostly sit idle
    and go stale. `timeout` bounds every network step (connect, each reply), not the whole send."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._deliver, build_mime(message, self._sender))

    def _deliver(self, mime: MimeMessage) -> None:
        smtp = smtplib.SMTP(timeout=self._timeout)
        try:
            smtp.connect(self.host, self.port)
            if self._starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self._username:
                smtp.login(self._username, self._password or "")
            smtp.send_message(mime)
        except (smtplib.SMTPException, OSError) as error:
            raise classify(error) from error
        finally:
            # Once the message is accepted a failed QUIT changes nothing: it must not turn into a retry.
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()
            smtp.close()


def classify(error: smtplib.SMTPException | OSError) -> EmailDeliveryError:
    """5xx replies are permanent and 4xx transient (RFC 5321 4.2.1). A lost connection or a network error
    is transient. Any other smtplib error (no STARTTLS or AUTH mechanism on offer) is a configuration
    mismatch that retrying will not fix."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()))
        return _by_code(code, reply)
    if isinstance(error, smtplib.SMTPResponseException):
        return _by_code(error.smtp_code, error.smtp_error)
    # smtplib's errors are OSErrors too, so they are sorted out before the network ones.
    if isinstance(error, smtplib.SMTPException) and not isinstance(error, smtplib.SMTPServerDisconnected):
        return PermanentEmailError(str(error))
    return TransientEmailError(str(error) or type(error).__name__)


def _by_code(code: int, reply: bytes | str) -> EmailDeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    if 500 <= code <= 599:
        return PermanentEmailError(f"{code} {text}")
    return TransientEmailError(f"{code} {text}")
