"""In-memory conversation repositories."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from adapters.memory.database import TableView
from domain.conversation.model import Conversation, Message
from domain.conversation.ports import DayUsage, ModelUsage, UsageRecord


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
        self._put(record.id, record)

    def _period(self, user_id: UUID, period_start: datetime) -> list[UsageRecord]:
        return [r for r in self._rows() if r.user_id == user_id and r.period_start == period_start]

    async def total_for_period(self, user_id: UUID, period_start: datetime) -> int:
        return sum(r.usage.total_tokens for r in self._period(user_id, period_start) if not r.cached)

    async def by_model(self, user_id: UUID, period_start: datetime) -> Sequence[ModelUsage]:
        groups: dict[tuple[str, str], list[UsageRecord]] = {}
        for record in self._period(user_id, period_start):
            groups.setdefault((record.model, record.provider), []).append(record)
        return [
            ModelUsage(
                model=model,
                provider=provider,
                requests=len(records),
                prompt_tokens=sum(r.usage.prompt_tokens for r in records if not r.cached),
                completion_tokens=sum(r.usage.completion_tokens for r in records if not r.cached),
            )
            for (model, provider), records in sorted(groups.items())
        ]

    async def by_day(self, user_id: UUID, period_start: datetime) -> Sequence[DayUsage]:
        days: dict[str, int] = {}
        for record in self._period(user_id, period_start):
            if not record.cached:
                day = record.created_at.astimezone(UTC).date().isoformat()
                days[day] = days.get(day, 0) + record.usage.total_tokens
        return [DayUsage(date=day, total_tokens=total) for day, total in sorted(days.items())]
