from __future__ import annotations

from application.shared.ports import EmailMessage


class InMemoryMailer:
    """Keeps what it was asked to send, in order. Set `failure` to make every send raise it (an outage)."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failure: Exception | None = None
        self.attempts = 0

    async def send(self, message: EmailMessage) -> None:
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        self.sent.append(message)
