from __future__ import annotations

from application.shared.ports import EmailMessage


class InMemoryMailer:
    """Keeps what it was asked to send, in order."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
