"""Amazon SES through its SMTP interface.

Why SMTP rather than the SES API: it needs no AWS SDK (boto3 and its dependency tree for one call), it sends
through the very code path the contract tests run against a real SMTP server, and SES gives the same
delivery, bounce handling and sending limits either way. Create the SMTP credentials in the SES console
(they are not the IAM access key pair)."""

from __future__ import annotations

from adapters.email.smtp import SmtpMailer

SES_SMTP_PORT = 587
"""SES's STARTTLS port (25 and 2587 work too, but EC2 throttles port 25 by default)."""


def ses_smtp_host(region: str) -> str:
    return f"email-smtp.{region}.amazonaws.com"


class SesMailer(SmtpMailer):
    """An SmtpMailer aimed at SES: the region picks the endpoint, STARTTLS is always on, login always
    happens. `host` overrides the endpoint (a VPC endpoint, or a FIPS one). Missing credentials fail at
    startup rather than on the first email."""

    def __init__(
        self,
        region: str,
        sender: str,
        username: str | None,
        password: str | None,
        host: str | None = None,
        port: int = SES_SMTP_PORT,
        timeout: float = 10.0,
    ) -> None:
        if not username or not password:
            raise ValueError("Amazon SES needs its SMTP credentials (PARLEY_SMTP_USERNAME, PARLEY_SMTP_PASSWORD)")
        super().__init__(
            host or ses_smtp_host(region),
            port,
            sender,
            username=username,
            password=password,
            starttls=True,
            timeout=timeout,
        )
