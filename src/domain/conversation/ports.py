"""Conversation's ports, in its own words."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from domain.conversation.model import Conversation, Message, Role, Usage


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function the model asked to call: `arguments` is the JSON text of its arguments, as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Image:
    """An image part of a user turn: an https URL or a `data:<media type>;base64,<data>` URL."""

    url: str


@dataclass(frozen=True, slots=True)
class Turn:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """An assistant turn's tool calls (its content may then be empty)."""
    tool_call_id: str | None = None
    """A TOOL turn's answer to this call."""
    images: tuple[Image, ...] = ()
    """A user turn's images, after its text."""

    @property
    def plain(self) -> bool:
        return not (self.tool_calls or self.images or self.tool_call_id)


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None
    """The JSON schema of the arguments."""


@dataclass(frozen=True, slots=True)
class CompletionOptions:
    """What a client may ask beyond the text, in no provider's words: each adapter maps what it supports (its
    `capabilities` name the fields it honours) and the gateway refuses a request asking what a model's provider
    cannot honour, naming the parameter."""

    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None
    """"auto", "none", "required" (some tool), or "function" (the tool named `tool_name`)."""
    tool_name: str | None = None
    parallel_tool_calls: bool | None = None
    response_format: Mapping[str, Any] | None = None
    """OpenAI's shape: {"type": "json_object"} or {"type": "json_schema", "json_schema": {...}}."""
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logit_bias: Mapping[str, float] | None = None
    user: str | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    def asked(self) -> list[str]:
        """The names of the options given, in the order above, but `user`: an end user's id for the provider's
        abuse monitoring is advisory, passed where the provider takes it and never a reason to refuse."""
        given = {
            "tools": bool(self.tools),
            "tool_choice": self.tool_choice is not None,
            "parallel_tool_calls": self.parallel_tool_calls is not None,
            "response_format": self.response_format is not None,
            "stop": bool(self.stop),
            "seed": self.seed is not None,
            "logit_bias": bool(self.logit_bias),
            "top_p": self.top_p is not None,
            "top_k": self.top_k is not None,
            "presence_penalty": self.presence_penalty is not None,
            "frequency_penalty": self.frequency_penalty is not None,
        }
        return [name for name, yes in given.items() if yes]


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: str
    """The provider's own name for the model."""
    messages: Sequence[Turn]
    max_tokens: int
    temperature: float | None = None
    options: CompletionOptions | None = None
    """None for a plain text chat (the /api path): nothing beyond the text is asked."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of the `index`th tool call of the reply: the first piece carries its id and name, every piece a
    piece of the arguments' JSON text (possibly empty)."""

    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The provider's own count, when it gives one (normally last), and why the reply ended: "stop" (the model
    finished) or "length" (max_tokens or the context window cut it)."""

    usage: Usage
    finish_reason: str = "stop"
    """Or "tool_calls": the model stopped to have its tool calls run."""


StreamEvent = TextDelta | ToolCallDelta | UsageReport


class LlmProvider(Protocol):
    """Messages in, a stream of text pieces (and tool call pieces) and a final usage out. Raises ProviderError on
    failure: before the first piece the router may fail over; after it, the reply ends with an error.
    `capabilities`: the CompletionOptions fields it honours."""

    name: str
    capabilities: frozenset[str]

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
