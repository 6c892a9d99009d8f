"""Wire shapes of /api/chat, /api/conversations, /api/usage and /api/models (API.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

from application.conversation.queries import ModelEntry, UsageReport
from application.shared.allowance import QuotaStatus
from domain.conversation.model import Conversation, Message

Content = Annotated[str, msgspec.Meta(min_length=1, max_length=32_000)]


class ChatBody(msgspec.Struct):
    content: Content
    conversation_id: UUID | None = None
    model: str | None = None
    system: Annotated[str, msgspec.Meta(max_length=32_000)] | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    stream: bool = False


class UsageOut(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class MessageOut(msgspec.Struct):
    id: UUID
    role: str
    content: str
    model: str | None
    provider: str | None
    usage: UsageOut
    cached: bool
    created_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        usage = message.usage
        return cls(
            id=message.id,
            role=message.role.value,
            content=message.content,
            model=message.model,
            provider=message.provider,
            usage=UsageOut(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
            cached=message.cached,
            created_at=message.created_at,
        )


class QuotaOut(msgspec.Struct):
    limit: int
    used: int
    remaining: int
    period_end: datetime

    @classmethod
    def of(cls, quota: QuotaStatus) -> QuotaOut:
        return cls(quota.limit, quota.used, quota.remaining, quota.period_end)


class ChatOut(msgspec.Struct):
    conversation_id: UUID
    message: MessageOut
    quota: QuotaOut


class ConversationSummary(msgspec.Struct):
    id: UUID
    title: str
    model: str
    created_at: datetime
    updated_at: datetime
    message_count: int

    @classmethod
    def of(cls, c: Conversation) -> ConversationSummary:
        return cls(c.id, c.title, c.model, c.created_at, c.updated_at, c.message_count)


class ConversationPage(msgspec.Struct):
    items: list[ConversationSummary]
    next_cursor: str | None


class ConversationOut(msgspec.Struct):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime
    messages: list[MessageOut]


class ModelUsageOut(msgspec.Struct):
    model: str
    provider: str
    requests: int
    prompt_tokens: int
    completion_tokens: int


class DayUsageOut(msgspec.Struct):
    date: str
    total_tokens: int


class UsageReportOut(msgspec.Struct):
    plan: str
    period_start: datetime
    period_end: datetime
    limit: int
    used: int
    remaining: int
    by_model: list[ModelUsageOut]
    by_day: list[DayUsageOut]

    @classmethod
    def of(cls, report: UsageReport) -> UsageReportOut:
        return cls(
            plan=report.plan,
            period_start=report.period_start,
            period_end=report.period_end,
            limit=report.quota.limit,
            used=report.quota.used,
            remaining=report.quota.remaining,
            by_model=[
                ModelUsageOut(m.model, m.provider, m.requests, m.prompt_tokens, m.completion_tokens)
                for m in report.by_model
            ],
            by_day=[DayUsageOut(d.date, d.total_tokens) for d in report.by_day],
        )


class ModelOut(msgspec.Struct):
    id: str
    provider: str
    context_window: int
    allowed: bool

    @classmethod
    def of(cls, entry: ModelEntry) -> ModelOut:
        return cls(entry.spec.id, entry.spec.provider, entry.spec.context_window, entry.allowed)


class ModelList(msgspec.Struct):
    items: list[ModelOut]
