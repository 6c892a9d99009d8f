"""Conversation's part of a user's data export: every conversation with its messages, and every usage record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from application.conversation.ports import ConversationUnitOfWork
from application.shared.export import every_page
from domain.conversation.model import Conversation, Message
from domain.conversation.ports import UsageRecord


def _message(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "role": message.role.value,
        "content": message.content,
        "model": message.model,
        "provider": message.provider,
        "prompt_tokens": message.usage.prompt_tokens,
        "completion_tokens": message.usage.completion_tokens,
        "cached": message.cached,
        "created_at": message.created_at,
    }


def _conversation(conversation: Conversation, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "model": conversation.model,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "messages": messages,
    }


def _usage(record: UsageRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "message_id": record.message_id,
        "model": record.model,
        "provider": record.provider,
        "prompt_tokens": record.usage.prompt_tokens,
        "completion_tokens": record.usage.completion_tokens,
        "cached": record.cached,
        "period_start": record.period_start,
        "created_at": record.created_at,
    }


class ConversationDataExport:
    """`conversations` (newest activity first, each with its messages oldest first) and `usage` (oldest first)."""

    def __init__(self, uow_factory: Callable[[], ConversationUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def export(self, user_id: UUID) -> Mapping[str, Any]:
        async with self._uow_factory() as uow:
            found = await every_page(
                lambda limit, before: uow.conversations.list_for_user(user_id, limit, before),
                lambda conversation: (conversation.updated_at, conversation.id),
            )
            conversations = [
                _conversation(c, [_message(m) for m in await uow.messages.list_for_conversation(c.id)]) for c in found
            ]
            usage = [_usage(record) for record in await uow.usage.list_for_user(user_id)]
        return {"conversations": conversations, "usage": usage}
