"""A scripted LLM provider for tests: each call plays the next script (pieces of text, then the usage),
or fails the way a real provider does, before or after its first piece."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from domain.conversation.errors import ProviderError
from domain.conversation.model import Usage
from domain.conversation.ports import CompletionRequest, StreamEvent, TextDelta, UsageReport


@dataclass
class Script:
    pieces: Sequence[str] = ("Hello ", "from ", "a ", "script.")
    usage: Usage | None = field(default_factory=lambda: Usage(12, 4))
    fail_after: int | None = None
    """Raise a retryable ProviderError after this many pieces (0: before the first one)."""
    gate: asyncio.Event | None = None
    """When set, the stream waits for this event after the first piece (to hold a reply open)."""


class ScriptedProvider:
    def __init__(self, name: str, scripts: Sequence[Script] = (), capabilities: frozenset[str] = frozenset()) -> None:
        self.name = name
        self.capabilities = capabilities
        self.scripts: deque[Script] = deque(scripts)
        self.requests: list[CompletionRequest] = []
        self.closed = 0

    def then(self, *scripts: Script) -> ScriptedProvider:
        self.scripts.extend(scripts)
        return self

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        script = self.scripts.popleft() if self.scripts else Script()
        try:
            for index, piece in enumerate(script.pieces):
                if script.fail_after == index:
                    raise ProviderError(f"{self.name} is overloaded", retryable=True, status=529)
                yield TextDelta(piece)
                if index == 0 and script.gate is not None:
                    await script.gate.wait()
            if script.fail_after is not None and script.fail_after >= len(script.pieces):
                raise ProviderError(f"{self.name} dropped the connection", retryable=True)
            if script.usage is not None:
                yield UsageReport(script.usage)
        finally:
            self.closed += 1
