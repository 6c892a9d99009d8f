"""What the chat use case hands back: the reply as a stream of events, and the quota after it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.conversation.model import Message
from domain.shared.errors import DomainError


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    limit: int
    used: int
    remaining: int
    period_end: datetime


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


@dataclass(frozen=True, slots=True)
class ReplyFailed:
    """The provider failed mid-reply: what was produced is kept and charged."""

    error: DomainError
    message: Message | None
    quota: QuotaStatus


ReplyEvent = ReplyStarted | ReplyDelta | ReplyFinished | ReplyFailed
