"""Conversation's ports, in its own words."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.conversation.model import Conversation, Message, Role, Usage


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str
    """The provider's own name for the model."""
    messages: Sequence[Turn]
    max_tokens: int
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The provider's own count, when it gives one (normally last), and why the reply ended: "stop" (the model
    finished) or "length" (max_tokens or the context window cut it)."""

    usage: Usage
    finish_reason: str = "stop"


StreamEvent = TextDelta | UsageReport


class LlmProvider(Protocol):
    """Messages in, a stream of text pieces and a final usage out. Raises ProviderError on failure:
    before the first piece the router may fail over; after it, the reply ends with an error."""

    name: str

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]: ...


class ConversationRepository(Protocol):
    async def add(self, conversation: Conversation) -> None: ...
    async def get_for_user(self, user_id: UUID, conversation_id: UUID) -> Conversation | None: ...
    async def update(self, conversation: Conversation) -> None: ...
    async def delete(self, conversation_id: UUID) -> None: ...
    async def list_for_user(
        self, user_id: UUID, limit: int, before: tuple[datetime, UUID] | None
    ) -> Sequence[Conversation]:
        """Newest `updated_at` first; `before` is the (updated_at, id) of the last item of the previous page."""
        ...


class MessageRepository(Protocol):
    async def add(self, message: Message) -> None: ...
    async def list_for_conversation(self, conversation_id: UUID) -> Sequence[Message]:
        """Oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """The durable record of what one reply cost (the ledger's counters are rebuilt from these)."""

    id: UUID
    user_id: UUID
    message_id: UUID | None
    model: str
    provider: str
    usage: Usage
    cached: bool
    period_start: datetime
    created_at: datetime
    latency_ms: int | None = None
    ttft_ms: int | None = None
    failovers: int = 0
    cost_micros: int = 0
    """What the provider charges for the reply, in millionths of a dollar, at the model's price when it ran
    (0 for a cached reply: no provider was called)."""


@dataclass(frozen=True, slots=True)
class ModelUsage:
    model: str
    provider: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class DayUsage:
    date: str
    total_tokens: int


class UsageRepository(Protocol):
    async def add(self, record: UsageRecord) -> None: ...
    async def total_for_period(self, user_id: UUID, period_start: datetime) -> int: ...
    async def by_model(self, user_id: UUID, period_start: datetime) -> Sequence[ModelUsage]: ...
    async def by_day(self, user_id: UUID, period_start: datetime) -> Sequence[DayUsage]: ...
    async def list_for_user(self, user_id: UUID) -> Sequence[UsageRecord]:
        """Every record of the user, every period, oldest first (the data export)."""
        ...
