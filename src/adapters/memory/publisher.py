from __future__ import annotations

from uuid import UUID


class InMemoryPublisher:
    """Records what the relay published; `down = True` makes it fail like an unreachable broker."""

    def __init__(self) -> None:
        self.published: list[tuple[UUID, str]] = []
        self.down = False

    async def publish(self, message_id: UUID, topic: str) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        self.published.append((message_id, topic))
