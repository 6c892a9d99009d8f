"""A deleted account's conversations go (topics.ACCOUNT_DELETED); its usage records stay: they are accounting."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from application.conversation.ports import ConversationUnitOfWork
from application.shared.export import every_page
from application.shared.ports import OutboxMessage

log = logging.getLogger("parley.chat")


class EraseConversations:
    """Delete every conversation of the user, with its messages, in one transaction. Running it again finds
    nothing left to delete."""

    def __init__(self, uow_factory: Callable[[], ConversationUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, message: OutboxMessage) -> None:
        user_id = UUID(str(message.payload["user_id"]))
        async with self._uow_factory() as uow:
            doomed = await every_page(
                lambda limit, before: uow.conversations.list_for_user(user_id, limit, before),
                lambda conversation: (conversation.updated_at, conversation.id),
            )
            for conversation in doomed:
                await uow.conversations.delete(conversation.id)
            await uow.commit()
        log.info("chat.account_erased", extra={"user_id": str(user_id), "conversations": len(doomed)})
