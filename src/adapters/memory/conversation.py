"""In-memory conversation repositories, the usage totals they keep and the chat store over the same tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from adapters.memory.database import TableView, Transaction
from domain.conversation.model import Conversation, Message
from domain.conversation.ports import DayUsage, ModelUsage, UsageRecord

MODEL_TOTALS = "usage_model_totals"
"""(user_id, period_start, model, provider) -> [requests, prompt_tokens, completion_tokens]: every request, the
tokens of uncached ones only."""
DAY_TOTALS = "usage_day_totals"
"""(user_id, period_start, 'YYYY-MM-DD') -> uncached tokens that UTC day (a day only cached replies used has no row)."""


def add_usage(tx: Transaction, record: UsageRecord) -> None:
    """The record, and the user's totals incremented at commit."""
    tx.insert("usage_records", record.id, record)
    prompt = 0 if record.cached else record.usage.prompt_tokens
    completion = 0 if record.cached else record.usage.completion_tokens

    def count(row: list[int]) -> None:
        row[0] += 1
        row[1] += prompt
        row[2] += completion

    key = (record.user_id, record.period_start, record.model, record.provider)
    tx.increment(MODEL_TOTALS, key, lambda: [0, 0, 0], count)
    if not record.cached:
        day = record.created_at.astimezone(UTC).date().isoformat()
        tokens = record.usage.total_tokens

        def add_tokens(row: list[int]) -> None:
            row[0] += tokens

        tx.increment(DAY_TOTALS, (record.user_id, record.period_start, day), lambda: [0], add_tokens)


def period_total(tx: Transaction, user_id: UUID, period_start: datetime) -> int:
    """The user's uncached tokens in the period (the sum of its model totals)."""
    return sum(row[1] + row[2] for key, row in tx.items(MODEL_TOTALS) if key[:2] == (user_id, period_start))


def count_message(tx: Transaction, conversation_id: UUID, at: datetime) -> None:
    """One more message in the conversation, at commit; its `updated_at` moves to the message's time."""

    def count(conversation: Conversation) -> None:
        conversation.message_count += 1
        conversation.updated_at = at

    tx.increment("conversations", conversation_id, lambda: None, count)


class InMemoryConversationRepository(TableView):
    table = "conversations"

    async def add(self, conversation: Conversation) -> None:
        self._put(conversation.id, conversation)

    async def get_for_user(self, user_id: UUID, conversation_id: UUID) -> Conversation | None:
        found: Conversation | None = self._get(conversation_id)
        return found if found is not None and found.user_id == user_id else None

    async def update(self, conversation: Conversation) -> None:
        self._put(conversation.id, conversation)

    async def delete(self, conversation_id: UUID) -> None:
        self._put(conversation_id, None)
        for message in self._tx.rows("messages"):
            if message is not None and message.conversation_id == conversation_id:
                self._tx.put("messages", message.id, None)

    async def list_for_user(
        self, user_id: UUID, limit: int, before: tuple[datetime, UUID] | None
    ) -> Sequence[Conversation]:
        mine = [c for c in self._rows() if c is not None and c.user_id == user_id]
        mine.sort(key=lambda c: (c.updated_at, c.id.int), reverse=True)
        if before is not None:
            mine = [c for c in mine if (c.updated_at, c.id.int) < (before[0], before[1].int)]
        return mine[:limit]


class InMemoryMessageRepository(TableView):
    table = "messages"

    async def add(self, message: Message) -> None:
        self._put(message.id, message)

    async def list_for_conversation(self, conversation_id: UUID) -> Sequence[Message]:
        messages = [m for m in self._rows() if m is not None and m.conversation_id == conversation_id]
        return sorted(messages, key=lambda m: (m.created_at, m.id.int))


class InMemoryUsageRepository(TableView):
    table = "usage_records"

    async def add(self, record: UsageRecord) -> None:
        add_usage(self._tx, record)

    async def total_for_period(self, user_id: UUID, period_start: datetime) -> int:
        return period_total(self._tx, user_id, period_start)

    async def by_model(self, user_id: UUID, period_start: datetime) -> Sequence[ModelUsage]:
        rows = [(key, row) for key, row in self._tx.items(MODEL_TOTALS) if key[:2] == (user_id, period_start)]
        return [
            ModelUsage(model=key[2], provider=key[3], requests=row[0], prompt_tokens=row[1], completion_tokens=row[2])
            for key, row in sorted(rows, key=lambda item: (item[0][2], item[0][3]))
        ]

    async def by_day(self, user_id: UUID, period_start: datetime) -> Sequence[DayUsage]:
        days = [(key[2], row[0]) for key, row in self._tx.items(DAY_TOTALS) if key[:2] == (user_id, period_start)]
        return [DayUsage(date=day, total_tokens=total) for day, total in sorted(days)]

    async def list_for_user(self, user_id: UUID) -> Sequence[UsageRecord]:
        mine = [r for r in self._rows() if r is not None and r.user_id == user_id]
        return sorted(mine, key=lambda r: (r.created_at, r.id.int))
