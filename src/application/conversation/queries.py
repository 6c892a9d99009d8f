"""Reading and deleting conversations, usage and the model list: everything on /api besides chatting."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application.conversation.ports import ConversationUnitOfWork, QuotaLedger
from application.conversation.quota import QuotaGate
from application.shared.allowance import AllowanceProvider, QuotaStatus
from application.shared.pagination import check_limit, decode_cursor, encode_cursor
from domain.conversation.catalogue import ModelCatalogue, ModelSpec
from domain.conversation.model import Conversation, Message
from domain.conversation.ports import DayUsage, ModelUsage
from domain.shared.clock import Clock
from domain.shared.errors import NotFound


@dataclass(frozen=True, slots=True)
class Page:
    items: Sequence[Conversation]
    next_cursor: str | None


class ListConversations:
    def __init__(self, uow_factory: Callable[[], ConversationUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, user_id: UUID, limit: int = 20, cursor: str | None = None) -> Page:
        check_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        async with self._uow_factory() as uow:
            items = await uow.conversations.list_for_user(user_id, limit + 1, before)
        has_more = len(items) > limit
        items = items[:limit]
        last = items[-1] if has_more and items else None
        return Page(items, encode_cursor(last.updated_at, last.id) if last else None)


@dataclass(frozen=True, slots=True)
class ConversationWithMessages:
    conversation: Conversation
    messages: Sequence[Message]


class GetConversation:
    def __init__(self, uow_factory: Callable[[], ConversationUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, user_id: UUID, conversation_id: UUID) -> ConversationWithMessages:
        async with self._uow_factory() as uow:
            conversation = await uow.conversations.get_for_user(user_id, conversation_id)
            if conversation is None:
                raise NotFound("No such conversation.")
            messages = await uow.messages.list_for_conversation(conversation_id)
        return ConversationWithMessages(conversation, messages)


class DeleteConversation:
    def __init__(self, uow_factory: Callable[[], ConversationUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, user_id: UUID, conversation_id: UUID) -> None:
        async with self._uow_factory() as uow:
            if await uow.conversations.get_for_user(user_id, conversation_id) is None:
                raise NotFound("No such conversation.")
            await uow.conversations.delete(conversation_id)
            await uow.commit()


@dataclass(frozen=True, slots=True)
class UsageReport:
    plan: str
    period_start: datetime
    period_end: datetime
    quota: QuotaStatus
    by_model: Sequence[ModelUsage]
    by_day: Sequence[DayUsage]


class GetUsage:
    def __init__(
        self,
        uow_factory: Callable[[], ConversationUnitOfWork],
        ledger: QuotaLedger,
        allowance: AllowanceProvider,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._quota = QuotaGate(ledger, uow_factory)
        self._allowance = allowance
        self._clock = clock

    async def __call__(self, user_id: UUID, plan: str) -> UsageReport:
        allowance = await self._allowance.current(user_id, plan, self._clock.now())
        quota = await self._quota.status(user_id, allowance)
        async with self._uow_factory() as uow:
            by_model = await uow.usage.by_model(user_id, allowance.period_start)
            by_day = await uow.usage.by_day(user_id, allowance.period_start)
        return UsageReport(plan, allowance.period_start, allowance.period_end, quota, by_model, by_day)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    spec: ModelSpec
    allowed: bool


class ListModels:
    def __init__(self, catalogue: ModelCatalogue) -> None:
        self._catalogue = catalogue

    def __call__(self, plan: str, kinds: Collection[str] = ("chat",)) -> Sequence[ModelEntry]:
        """The catalogue's models of `kinds` (chat models only, unless asked), each with whether `plan` may use it."""
        return [ModelEntry(spec, spec.allows(plan)) for spec in self._catalogue.all() if spec.kind in kinds]
