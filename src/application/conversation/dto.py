"""What the chat use case hands back: the reply as a stream of events, and the quota after it."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from application.shared.allowance import QuotaStatus
from domain.conversation.model import Message
from domain.conversation.ports import ToolCallDelta
from domain.shared.errors import DomainError


@dataclass(frozen=True, slots=True)
class ReplyStarted:
    conversation_id: UUID
    message_id: UUID
    model: str
    provider: str


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReplyFinished:
    message: Message
    quota: QuotaStatus
    finish_reason: str = "stop"
    """"stop" (the model finished), "length" (max_tokens or the context window cut the reply) or "tool_calls"
    (the model asks for its tool calls to be run)."""


@dataclass(frozen=True, slots=True)
class ReplyFailed:
    """The provider failed mid-reply: what was produced is kept and charged."""

    error: DomainError
    message: Message | None
    quota: QuotaStatus | None
    """None when the reply could not be accounted for (ReplyNotRecorded)."""


ReplyEvent = ReplyStarted | ReplyDelta | ToolCallDelta | ReplyFinished | ReplyFailed
"""ToolCallDelta: a piece of a tool call the model asks for (only when the request offered tools)."""
