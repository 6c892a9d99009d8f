"""Conversation repositories over SQL, with explicit mappers between rows and the domain's dataclasses.

Two of them sit on the chat hot path (two short transactions per reply), so writes are single
statements: `add` queues an INSERT for the commit's flush, `update` is one UPDATE, never a read-then-merge.
Usage questions are answered by the database (GROUP BY over the (user_id, period_start) index); cached
replies cost nothing, so they count as requests but never as tokens, exactly as in the in-memory store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, case, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from adapters.sql.tables import ConversationRow, MessageRow, UsageRecordRow
from domain.conversation.model import Conversation, Message, Role, Usage
from domain.conversation.ports import DayUsage, ModelUsage, UsageRecord

# --- dialect differences ------------------------------------------------------------------------


class UtcDate(FunctionElement[str]):
    """The UTC calendar date of a DateTimeUTC column as 'YYYY-MM-DD'. PostgreSQL would otherwise use
    the session's time zone; SQLite stores the UTC wall time as text, whose date() is the answer."""

    type = String()
    inherit_cache = True


@compiles(UtcDate, "postgresql")
def _utc_date_postgresql(element: UtcDate, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(UtcDate, "sqlite")
def _utc_date_sqlite(element: UtcDate, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


class CodepointOrder(FunctionElement[str]):
    """A text column sorted by code point, as Python sorts the in-memory store. PostgreSQL's default
    collation may follow a locale, which puts 'claude' before 'GPT-4o'; SQLite's BINARY already is code point."""

    type = String()
    inherit_cache = True


@compiles(CodepointOrder, "postgresql")
def _codepoint_order_postgresql(element: CodepointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)}) COLLATE "C"'


@compiles(CodepointOrder)
def _codepoint_order_default(element: CodepointOrder, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


# --- mappers ------------------------------------------------------------------------------------


def conversation_to_row(conversation: Conversation) -> ConversationRow:
    return ConversationRow(
        id=conversation.id,
        user_id=conversation.user_id,
        title=conversation.title,
        model=conversation.model,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        message_count=conversation.message_count,
    )


def conversation_from_row(row: ConversationRow) -> Conversation:
    return Conversation(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        model=row.model,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=row.message_count,
    )


def message_to_row(message: Message) -> MessageRow:
    return MessageRow(
        id=message.id,
        conversation_id=message.conversation_id,
        user_id=message.user_id,
        role=message.role.value,
        content=message.content,
        model=message.model,
        provider=message.provider,
        prompt_tokens=message.usage.prompt_tokens,
        completion_tokens=message.usage.completion_tokens,
        cached=message.cached,
        created_at=message.created_at,
    )


def message_from_row(row: MessageRow) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        user_id=row.user_id,
        role=Role(row.role),
        content=row.content,
        created_at=row.created_at,
        model=row.model,
        provider=row.provider,
        usage=Usage(prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens),
        cached=row.cached,
    )


def usage_record_to_row(record: UsageRecord) -> UsageRecordRow:
    return UsageRecordRow(
        id=record.id,
        user_id=record.user_id,
        message_id=record.message_id,
        model=record.model,
        provider=record.provider,
        prompt_tokens=record.usage.prompt_tokens,
        completion_tokens=record.usage.completion_tokens,
        cached=record.cached,
        period_start=record.period_start,
        created_at=record.created_at,
        latency_ms=record.latency_ms,
        ttft_ms=record.ttft_ms,
        failovers=record.failovers,
    )


def usage_record_from_row(row: UsageRecordRow) -> UsageRecord:
    return UsageRecord(
        id=row.id,
        user_id=row.user_id,
        message_id=row.message_id,
        model=row.model,
        provider=row.provider,
        usage=Usage(prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens),
        cached=row.cached,
        period_start=row.period_start,
        created_at=row.created_at,
        latency_ms=row.latency_ms,
        ttft_ms=row.ttft_ms,
        failovers=row.failovers,
    )


# --- repositories -------------------------------------------------------------------------------


class SqlConversationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, conversation: Conversation) -> None:
        self._session.add(conversation_to_row(conversation))

    async def get_for_user(self, user_id: UUID, conversation_id: UUID) -> Conversation | None:
        """Another user's conversation is None, like a missing one (the API answers 404 for both)."""
        row = await self._session.scalar(
            select(ConversationRow).where(ConversationRow.id == conversation_id, ConversationRow.user_id == user_id)
        )
        return None if row is None else conversation_from_row(row)

    async def update(self, conversation: Conversation) -> None:
        """One UPDATE of what changes over a conversation's life (its owner and birth never do)."""
        await self._session.execute(
            update(ConversationRow)
            .where(ConversationRow.id == conversation.id)
            .values(
                title=conversation.title,
                model=conversation.model,
                updated_at=conversation.updated_at,
                message_count=conversation.message_count,
            )
        )

    async def delete(self, conversation_id: UUID) -> None:
        """Messages first, explicitly, so nothing depends on SQLite's per-connection foreign-key switch;
        usage records stay (they point at messages without a foreign key)."""
        await self._session.execute(delete(MessageRow).where(MessageRow.conversation_id == conversation_id))
        await self._session.execute(delete(ConversationRow).where(ConversationRow.id == conversation_id))

    async def list_for_user(
        self, user_id: UUID, limit: int, before: tuple[datetime, UUID] | None
    ) -> Sequence[Conversation]:
        """Keyset pagination along the (user_id, updated_at, id) index: newest first, ties by id descending."""
        query = select(ConversationRow).where(ConversationRow.user_id == user_id)
        if before is not None:
            # Compared with a plain tuple, so each value is bound through its column's type (UTC, uuid).
            query = query.where(tuple_(ConversationRow.updated_at, ConversationRow.id) < before)
        rows = await self._session.scalars(
            query.order_by(ConversationRow.updated_at.desc(), ConversationRow.id.desc()).limit(limit)
        )
        return [conversation_from_row(row) for row in rows]


class SqlMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, message: Message) -> None:
        self._session.add(message_to_row(message))

    async def list_for_conversation(self, conversation_id: UUID) -> Sequence[Message]:
        """Oldest first; messages created in the same instant keep their (time-ordered) id order."""
        rows = await self._session.scalars(
            select(MessageRow)
            .where(MessageRow.conversation_id == conversation_id)
            .order_by(MessageRow.created_at, MessageRow.id)
        )
        return [message_from_row(row) for row in rows]


class SqlUsageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, record: UsageRecord) -> None:
        self._session.add(usage_record_to_row(record))

    async def total_for_period(self, user_id: UUID, period_start: datetime) -> int:
        total = await self._session.scalar(
            select(func.coalesce(func.sum(UsageRecordRow.prompt_tokens + UsageRecordRow.completion_tokens), 0)).where(
                *_period(user_id, period_start), UsageRecordRow.cached.is_(False)
            )
        )
        return int(total or 0)

    async def by_model(self, user_id: UUID, period_start: datetime) -> Sequence[ModelUsage]:
        """Every request counts, cached ones too; only uncached ones count tokens. Sorted by (model, provider)."""
        result = await self._session.execute(
            select(
                UsageRecordRow.model,
                UsageRecordRow.provider,
                func.count(),
                _uncached_sum(UsageRecordRow.prompt_tokens),
                _uncached_sum(UsageRecordRow.completion_tokens),
            )
            .where(*_period(user_id, period_start))
            .group_by(UsageRecordRow.model, UsageRecordRow.provider)
            .order_by(CodepointOrder(UsageRecordRow.model), CodepointOrder(UsageRecordRow.provider))
        )
        return [
            ModelUsage(
                model=model,
                provider=provider,
                requests=requests,
                prompt_tokens=int(prompt_tokens),
                completion_tokens=int(completion_tokens),
            )
            for model, provider, requests, prompt_tokens, completion_tokens in result
        ]

    async def by_day(self, user_id: UUID, period_start: datetime) -> Sequence[DayUsage]:
        """Uncached tokens per UTC day of `created_at`, oldest first; days without any are left out."""
        day = UtcDate(UsageRecordRow.created_at)
        result = await self._session.execute(
            select(day, func.sum(UsageRecordRow.prompt_tokens + UsageRecordRow.completion_tokens))
            .where(*_period(user_id, period_start), UsageRecordRow.cached.is_(False))
            .group_by(day)
            .order_by(day)
        )
        return [DayUsage(date=date, total_tokens=int(total)) for date, total in result]


def _period(user_id: UUID, period_start: datetime) -> tuple[ColumnElement[bool], ...]:
    return UsageRecordRow.user_id == user_id, UsageRecordRow.period_start == period_start


def _uncached_sum(column: InstrumentedAttribute[int]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((UsageRecordRow.cached.is_(False), column), else_=0)), 0)
