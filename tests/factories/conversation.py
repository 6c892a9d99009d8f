"""Factories for conversation's dataclasses: sensible fixed values where a store has rules (aware datetimes,
short model names), fresh ids, and any field overridable with `build(field=value)`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from polyfactory import Use
from polyfactory.factories import DataclassFactory

from domain.conversation.model import Conversation, Message, Role, Usage
from domain.conversation.ports import UsageRecord
from domain.shared.ids import new_id

T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
PERIOD = datetime(2026, 3, 1, tzinfo=UTC)


class ConversationFactory(DataclassFactory[Conversation]):
    id = Use(new_id)
    title = "Why is the sky blue?"
    model = "parley-demo"
    created_at = T0
    updated_at = T0
    message_count = 0


class MessageFactory(DataclassFactory[Message]):
    id = Use(new_id)
    role = Role.USER
    content = Use(lambda: MessageFactory.__faker__.sentence())
    created_at = T0
    model = None
    provider = None
    usage = Use(Usage)
    cached = False

    @classmethod
    def in_(cls, conversation: Conversation, **changes: Any) -> Message:
        """A message of `conversation` (its owner's)."""
        return cls.build(conversation_id=conversation.id, user_id=conversation.user_id, **changes)

    @classmethod
    def reply_in(cls, conversation: Conversation, **changes: Any) -> Message:
        """An assistant's reply in `conversation`, with its usage."""
        defaults: dict[str, Any] = {
            "role": Role.ASSISTANT,
            "model": "parley-demo",
            "provider": "demo",
            "usage": Usage(12, 4),
        }
        return cls.in_(conversation, **(defaults | changes))


class UsageRecordFactory(DataclassFactory[UsageRecord]):
    id = Use(new_id)
    message_id = None
    model = "parley-demo"
    provider = "demo"
    usage = Use(lambda: Usage(12, 4))
    cached = False
    period_start = PERIOD
    created_at = T0
    latency_ms = 840
    ttft_ms = 120
    failovers = 0

    @classmethod
    def of(cls, message: Message, **changes: Any) -> UsageRecord:
        """The record of a reply."""
        fields: dict[str, Any] = {
            "user_id": message.user_id,
            "message_id": message.id,
            "model": message.model or "parley-demo",
            "provider": message.provider or "demo",
            "usage": message.usage,
            "cached": message.cached,
            "created_at": message.created_at,
        }
        return cls.build(**(fields | changes))
