"""Conversation repositories over SQL: Core statements on the unit's transaction, with explicit mappers between
rows and the domain's dataclasses.

Three of them sit on the chat hot path (two short transactions per reply), so every statement is built once
(a compiled-cache hit, a prepared statement on PostgreSQL): `add` queues one INSERT, `update` one UPDATE
(never a read-then-merge), and the unit runs them at commit (see transaction.py). Usage questions are
answered by the database (GROUP BY over the (user_id, period_start) index); cached replies cost nothing, so
they count as requests but never as tokens, exactly as in the in-memory store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, bindparam, case, delete, func, insert, select, tuple_, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from adapters.sql.tables import conversations, messages, usage_records
from adapters.sql.transaction import SqlTransaction
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


def conversation_values(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "user_id": conversation.user_id,
        "title": conversation.title,
        "model": conversation.model,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "message_count": conversation.message_count,
    }


def conversation_from_row(row: Row[Any]) -> Conversation:
    return Conversation(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        model=row.model,
        created_at=row.created_at,
        updated_at=row.updated_at,
        message_count=row.message_count,
    )


def message_values(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "user_id": message.user_id,
        "role": message.role.value,
        "content": message.content,
        "model": message.model,
        "provider": message.provider,
        "prompt_tokens": message.usage.prompt_tokens,
        "completion_tokens": message.usage.completion_tokens,
        "cached": message.cached,
        "created_at": message.created_at,
    }


def message_from_row(row: Row[Any]) -> Message:
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


def usage_record_values(record: UsageRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "user_id": record.user_id,
        "message_id": record.message_id,
        "model": record.model,
        "provider": record.provider,
        "prompt_tokens": record.usage.prompt_tokens,
        "completion_tokens": record.usage.completion_tokens,
        "cached": record.cached,
        "period_start": record.period_start,
        "created_at": record.created_at,
        "latency_ms": record.latency_ms,
        "ttft_ms": record.ttft_ms,
        "failovers": record.failovers,
    }


# --- statements ---------------------------------------------------------------------------------

_ADD_CONVERSATION = insert(conversations)
_CONVERSATION_OF_USER = select(conversations).where(
    conversations.c.id == bindparam("key"), conversations.c.user_id == bindparam("user_id")
)
_UPDATE_CONVERSATION = update(conversations).where(conversations.c.id == bindparam("key"))
_DELETE_MESSAGES_OF = delete(messages).where(messages.c.conversation_id == bindparam("key"))
_DELETE_CONVERSATION = delete(conversations).where(conversations.c.id == bindparam("key"))

_ADD_MESSAGE = insert(messages)
_MESSAGES_OF = (
    select(messages)
    .where(messages.c.conversation_id == bindparam("key"))
    .order_by(messages.c.created_at, messages.c.id)
)

_ADD_USAGE_RECORD = insert(usage_records)
_IN_PERIOD = (
    usage_records.c.user_id == bindparam("user_id"),
    usage_records.c.period_start == bindparam("period_start"),
)
_UNCACHED = usage_records.c.cached.is_(False)
_TOKENS = usage_records.c.prompt_tokens + usage_records.c.completion_tokens


def _uncached_sum(column: ColumnElement[int]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((_UNCACHED, column), else_=0)), 0)


_TOTAL_FOR_PERIOD = select(func.coalesce(func.sum(_TOKENS), 0)).where(*_IN_PERIOD, _UNCACHED)
_BY_MODEL = (
    select(
        usage_records.c.model,
        usage_records.c.provider,
        func.count(),
        _uncached_sum(usage_records.c.prompt_tokens),
        _uncached_sum(usage_records.c.completion_tokens),
    )
    .where(*_IN_PERIOD)
    .group_by(usage_records.c.model, usage_records.c.provider)
    .order_by(CodepointOrder(usage_records.c.model), CodepointOrder(usage_records.c.provider))
)
_DAY = UtcDate(usage_records.c.created_at)
_BY_DAY = select(_DAY, func.sum(_TOKENS)).where(*_IN_PERIOD, _UNCACHED).group_by(_DAY).order_by(_DAY)


# --- repositories -------------------------------------------------------------------------------


class SqlConversationRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, conversation: Conversation) -> None:
        self._tx.write(_ADD_CONVERSATION, conversation_values(conversation))

    async def get_for_user(self, user_id: UUID, conversation_id: UUID) -> Conversation | None:
        """Another user's conversation is None, like a missing one (the API answers 404 for both)."""
        result = await self._tx.read(_CONVERSATION_OF_USER, {"key": conversation_id, "user_id": user_id})
        row = result.first()
        return None if row is None else conversation_from_row(row)

    async def update(self, conversation: Conversation) -> None:
        """One UPDATE of what changes over a conversation's life (its owner and birth never do)."""
        self._tx.write(
            _UPDATE_CONVERSATION,
            {
                "key": conversation.id,
                "title": conversation.title,
                "model": conversation.model,
                "updated_at": conversation.updated_at,
                "message_count": conversation.message_count,
            },
        )

    async def delete(self, conversation_id: UUID) -> None:
        """Messages first, explicitly, so nothing depends on SQLite's per-connection foreign-key switch;
        usage records stay (they point at messages without a foreign key)."""
        await self._tx.execute(_DELETE_MESSAGES_OF, {"key": conversation_id})
        await self._tx.execute(_DELETE_CONVERSATION, {"key": conversation_id})

    async def list_for_user(
        self, user_id: UUID, limit: int, before: tuple[datetime, UUID] | None
    ) -> Sequence[Conversation]:
        """Keyset pagination along the (user_id, updated_at, id) index: newest first, ties by id descending."""
        query = select(conversations).where(conversations.c.user_id == user_id)
        if before is not None:
            # Compared with a plain tuple, so each value is bound through its column's type (UTC, uuid).
            query = query.where(tuple_(conversations.c.updated_at, conversations.c.id) < before)
        rows = await self._tx.read(
            query.order_by(conversations.c.updated_at.desc(), conversations.c.id.desc()).limit(limit)
        )
        return [conversation_from_row(row) for row in rows]


class SqlMessageRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, message: Message) -> None:
        self._tx.write(_ADD_MESSAGE, message_values(message))

    async def list_for_conversation(self, conversation_id: UUID) -> Sequence[Message]:
        """Oldest first; messages created in the same instant keep their (time-ordered) id order."""
        rows = await self._tx.read(_MESSAGES_OF, {"key": conversation_id})
        return [message_from_row(row) for row in rows]


class SqlUsageRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, record: UsageRecord) -> None:
        self._tx.write(_ADD_USAGE_RECORD, usage_record_values(record))

    async def total_for_period(self, user_id: UUID, period_start: datetime) -> int:
        result = await self._tx.read(_TOTAL_FOR_PERIOD, {"user_id": user_id, "period_start": period_start})
        return int(result.scalar() or 0)

    async def by_model(self, user_id: UUID, period_start: datetime) -> Sequence[ModelUsage]:
        """Every request counts, cached ones too; only uncached ones count tokens. Sorted by (model, provider)."""
        result = await self._tx.read(_BY_MODEL, {"user_id": user_id, "period_start": period_start})
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
        result = await self._tx.read(_BY_DAY, {"user_id": user_id, "period_start": period_start})
        return [DayUsage(date=date, total_tokens=int(total)) for date, total in result]
