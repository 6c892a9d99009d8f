"""The chat store in memory, over the InMemoryDatabase the units of work share: each call is one transaction,
committed without awaiting anything in between, with its counters incremented at commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from uuid import UUID

from adapters.memory.conversation import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
    add_usage,
    count_message,
    period_total,
)
from adapters.memory.database import InMemoryDatabase, Transaction
from adapters.memory.facts import InMemoryFactLog
from application.conversation.chat_store import LoadedTurn
from application.conversation.crossings import Crossing, fired
from application.shared.facts import Fact
from application.shared.ports import OutboxMessage
from domain.conversation.model import Conversation, Message
from domain.conversation.ports import UsageRecord


class InMemoryChatStore:
    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db

    async def load_turn(self, user_id: UUID, conversation_id: UUID, *, with_history: bool = True) -> LoadedTurn | None:
        tx = Transaction(self._db)
        conversation = await InMemoryConversationRepository(tx).get_for_user(user_id, conversation_id)
        if conversation is None:
            return None
        history = await InMemoryMessageRepository(tx).list_for_conversation(conversation_id) if with_history else []
        return LoadedTurn(conversation, history)

    async def record_prompt(self, conversation: Conversation, message: Message, *, new: bool) -> None:
        tx = Transaction(self._db)
        if new:
            counted = replace(conversation, message_count=conversation.message_count + 1, updated_at=message.created_at)
            tx.insert("conversations", conversation.id, counted)
        else:
            count_message(tx, conversation.id, message.created_at)
        tx.insert("messages", message.id, message)
        tx.commit()

    async def record_reply(
        self,
        message: Message | None,
        usage: UsageRecord,
        outbox: Sequence[OutboxMessage] = (),
        facts: Sequence[Fact] = (),
        crossings: Sequence[Crossing] = (),
    ) -> None:
        tx = Transaction(self._db)
        if message is not None:
            tx.insert("messages", message.id, message)
            count_message(tx, message.conversation_id, message.created_at)
        if crossings and not usage.cached:  # nothing is awaited from here to the commit: no record comes between
            before = period_total(tx, usage.user_id, usage.period_start)
            outbox = [*outbox, *fired(crossings, before, before + usage.usage.total_tokens)]
        add_usage(tx, usage)
        for outbox_message in outbox:
            tx.insert("outbox", outbox_message.id, outbox_message)
        _add_facts(tx, facts)
        tx.commit()

    async def record_facts(self, facts: Sequence[Fact]) -> None:
        tx = Transaction(self._db)
        _add_facts(tx, facts)
        tx.commit()


def _add_facts(tx: Transaction, facts: Sequence[Fact]) -> None:
    for fact in facts:
        if tx.get(InMemoryFactLog.table, fact.id) is None:
            tx.put(InMemoryFactLog.table, fact.id, fact)
