"""Conversation repositories over SQL: Core statements on the unit's transaction, with explicit mappers between
rows and the domain's dataclasses.

Every statement is built once (a compiled-cache hit, a prepared statement on PostgreSQL) and runs at once in
the unit's transaction. A usage record comes with its user's totals (per model and per UTC day of the period),
incremented in SQL (`INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`) in the same transaction, and
usage questions read those totals: a few rows, however long the history. Cached replies cost nothing, so they
count as requests but never as tokens, exactly as in the in-memory store. The chat hot path records through
the chat store (chat_store.py), with these same mappers and statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Insert, Row, Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from adapters.sql.tables import (
    conversations,
    messages,
    usage_day_totals,
    usage_model_totals,
    usage_period_totals,
    usage_records,
)
from adapters.sql.transaction import SqlTransaction
from domain.conversation.model import Conversation, Message, Role, Usage
from domain.conversation.ports import DayUsage, ModelUsage, UsageRecord

# --- dialect differences ------------------------------------------------------------------------


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
        "cost_micros": record.cost_micros,
    }


_USAGE_RECORD_COLUMNS = (
    "id",
    "user_id",
    "message_id",
    "model",
    "provider",
    "cached",
    "period_start",
    "created_at",
    "latency_ms",
    "ttft_ms",
    "failovers",
    "cost_micros",
)
"""The columns of `usage_records` a UsageRecord takes as they are (the two token counts make its `usage`)."""


def usage_record_from_row(row: Row[Any]) -> UsageRecord:
    same = {column: getattr(row, column) for column in _USAGE_RECORD_COLUMNS}
    return UsageRecord(usage=Usage(prompt_tokens=row.prompt_tokens, completion_tokens=row.completion_tokens), **same)


def model_total_values(record: UsageRecord) -> dict[str, Any]:
    counted = not record.cached
    return {
        "user_id": record.user_id,
        "period_start": record.period_start,
        "model": record.model,
        "provider": record.provider,
        "requests": 1,
        "prompt_tokens": record.usage.prompt_tokens if counted else 0,
        "completion_tokens": record.usage.completion_tokens if counted else 0,
    }


def day_total_values(record: UsageRecord) -> dict[str, Any] | None:
    """None for a cached reply: it costs no tokens, and a day only cached replies used is not listed."""
    if record.cached:
        return None
    return {
        "user_id": record.user_id,
        "period_start": record.period_start,
        "day": utc_day(record.created_at),
        "total_tokens": record.usage.total_tokens,
    }


def period_total_values(record: UsageRecord) -> dict[str, Any] | None:
    """None for a cached reply: it costs no tokens."""
    if record.cached:
        return None
    return {"user_id": record.user_id, "period_start": record.period_start, "total_tokens": record.usage.total_tokens}


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


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
_USAGE_RECORDS_OF = (
    select(usage_records)
    .where(usage_records.c.user_id == bindparam("user_id"))
    .order_by(usage_records.c.created_at, usage_records.c.id)
)
_COUNT_MESSAGE = (
    update(conversations)
    .where(conversations.c.id == bindparam("key"))
    .values(message_count=conversations.c.message_count + 1, updated_at=bindparam("at"))
)


def _adding(table: Table, columns: Sequence[str], dialect: str) -> Insert:
    """INSERT one row of `table`, or add its `columns` to the row that holds its primary key."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    keys = [column.name for column in table.primary_key.columns]
    added = {column: table.c[column] + statement.excluded[column] for column in columns}
    return statement.on_conflict_do_update(index_elements=keys, set_=added)


ADD_MODEL_TOTAL = {
    dialect: _adding(usage_model_totals, ("requests", "prompt_tokens", "completion_tokens"), dialect)
    for dialect in ("postgresql", "sqlite")
}
ADD_DAY_TOTAL = {dialect: _adding(usage_day_totals, ("total_tokens",), dialect) for dialect in ("postgresql", "sqlite")}
_ADD_PERIOD_TOTAL = {
    dialect: _adding(usage_period_totals, ("total_tokens",), dialect).returning(usage_period_totals.c.total_tokens)
    for dialect in ("postgresql", "sqlite")
}

_MODEL_TOTALS_OF = (
    usage_model_totals.c.user_id == bindparam("user_id"),
    usage_model_totals.c.period_start == bindparam("period_start"),
)
_TOTAL_FOR_PERIOD = select(usage_period_totals.c.total_tokens).where(
    usage_period_totals.c.user_id == bindparam("user_id"),
    usage_period_totals.c.period_start == bindparam("period_start"),
)
_BY_MODEL = (
    select(
        usage_model_totals.c.model,
        usage_model_totals.c.provider,
        usage_model_totals.c.requests,
        usage_model_totals.c.prompt_tokens,
        usage_model_totals.c.completion_tokens,
    )
    .where(*_MODEL_TOTALS_OF)
    .order_by(CodepointOrder(usage_model_totals.c.model), CodepointOrder(usage_model_totals.c.provider))
)
_BY_DAY = (
    select(usage_day_totals.c.day, usage_day_totals.c.total_tokens)
    .where(
        usage_day_totals.c.user_id == bindparam("user_id"), usage_day_totals.c.period_start == bindparam("period_start")
    )
    .order_by(usage_day_totals.c.day)
)


async def add_usage(tx: SqlTransaction, record: UsageRecord) -> int | None:
    """The record and its user's totals, in the transaction; the period's total with it (None for a cached
    reply, which adds no tokens), as its row holds it once this transaction's update has it locked."""
    await tx.execute(_ADD_USAGE_RECORD, usage_record_values(record))
    await tx.execute(ADD_MODEL_TOTAL[tx.dialect], model_total_values(record))
    day, period = day_total_values(record), period_total_values(record)
    if day is None or period is None:  # a cached reply adds no tokens
        return None
    await tx.execute(ADD_DAY_TOTAL[tx.dialect], day)
    return int((await tx.execute(_ADD_PERIOD_TOTAL[tx.dialect], period)).scalar_one())


async def count_message(tx: SqlTransaction, conversation_id: UUID, at: datetime) -> None:
    """One more message in the conversation (counted in SQL), whose `updated_at` moves to `at`."""
    await tx.execute(_COUNT_MESSAGE, {"key": conversation_id, "at": at})


# --- repositories -------------------------------------------------------------------------------


class SqlConversationRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, conversation: Conversation) -> None:
        await self._tx.execute(_ADD_CONVERSATION, conversation_values(conversation))

    async def get_for_user(self, user_id: UUID, conversation_id: UUID) -> Conversation | None:
        """Another user's conversation is None, like a missing one (the API answers 404 for both)."""
        result = await self._tx.read(_CONVERSATION_OF_USER, {"key": conversation_id, "user_id": user_id})
        row = result.first()
        return None if row is None else conversation_from_row(row)

    async def update(self, conversation: Conversation) -> None:
        """One UPDATE of what changes over a conversation's life (its owner and birth never do)."""
        await self._tx.execute(
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
        await self._tx.execute(_ADD_MESSAGE, message_values(message))

    async def list_for_conversation(self, conversation_id: UUID) -> Sequence[Message]:
        """Oldest first; messages created in the same instant keep their (time-ordered) id order."""
        rows = await self._tx.read(_MESSAGES_OF, {"key": conversation_id})
        return [message_from_row(row) for row in rows]


class SqlUsageRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, record: UsageRecord) -> None:
        await add_usage(self._tx, record)

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
                requests=int(requests),
                prompt_tokens=int(prompt_tokens),
                completion_tokens=int(completion_tokens),
            )
            for model, provider, requests, prompt_tokens, completion_tokens in result
        ]

    async def by_day(self, user_id: UUID, period_start: datetime) -> Sequence[DayUsage]:
        """Uncached tokens per UTC day of `created_at`, oldest first; days without any are left out."""
        result = await self._tx.read(_BY_DAY, {"user_id": user_id, "period_start": period_start})
        return [DayUsage(date=day, total_tokens=int(total)) for day, total in result]

    async def list_for_user(self, user_id: UUID) -> Sequence[UsageRecord]:
        """Oldest first; records of the same instant in (time-ordered) id order."""
        rows = await self._tx.read(_USAGE_RECORDS_OF, {"user_id": user_id})
        return [usage_record_from_row(row) for row in rows]
