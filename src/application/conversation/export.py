"""Conversation's part of a user's data export: every conversation with its messages, and every usage record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from application.conversation.ports import ConversationUnitOfWork
from application.shared.export import every_page, picked
from domain.conversation.model import Usage

CONVERSATION = "id title model created_at updated_at"
MESSAGE = "id role content model provider cached created_at"
USAGE_RECORD = "id message_id model provider cached period_start created_at"


def _tokens(usage: Usage) -> dict[str, int]:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}


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
            conversations = []
            for conversation in found:
                messages = await uow.messages.list_for_conversation(conversation.id)
                listed = [picked(message, MESSAGE, **_tokens(message.usage)) for message in messages]
                conversations.append(picked(conversation, CONVERSATION, messages=listed))
            records = await uow.usage.list_for_user(user_id)
        usage = [picked(record, USAGE_RECORD, **_tokens(record.usage)) for record in records]
        return {"conversations": conversations, "usage": usage}
