"""The chat store over SQL (application/conversation/chat_store.py). With the request's principal lookup
(principals.py), the only code that leaves SQLAlchemy's execution path, and only on PostgreSQL.

On PostgreSQL each call is ONE statement sent straight to asyncpg, on a connection from SQLAlchemy's pool kept
between calls (direct.py, `KeptConnections.fetch`):
`record_prompt` and `record_reply` are data-modifying CTEs (`WITH m AS (INSERT ...), c AS (UPDATE ...) ...`), so
the reply, its usage record, the counters, the outbox messages it causes (the crossings among them decided on
the period's total that the statement's own upsert returns) and its analytics facts (inserted with ON CONFLICT
(id) DO NOTHING) commit together in one round trip,
atomic as any single statement (foreign keys are checked at its end); `load_turn` is one SELECT. The SQL is
written here by hand, values are converted here, and asyncpg prepares each statement once per connection (for
the errors and the connections' fate, see direct.py).

Elsewhere (SQLite) each call is a plain transaction (transaction.py) running the repositories' own Core
statements. Counters are incremented in SQL on both: `message_count = message_count + 1`, and the usage totals
with `INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import outbox as sql_outbox
from adapters.sql.conversation import (
    SqlConversationRepository,
    SqlMessageRepository,
    add_usage,
    conversation_values,
    count_message,
    day_total_values,
    message_values,
    model_total_values,
    period_total_values,
    usage_record_values,
)
from adapters.sql.direct import DriverStatement, KeptConnections
from adapters.sql.facts import fact_values, insert_fact
from adapters.sql.tables import outbox
from adapters.sql.transaction import SqlTransaction
from adapters.telemetry.otel_context import current_traceparent
from application.conversation.chat_store import LoadedTurn
from application.conversation.crossings import Crossing, fired
from application.shared.facts import Fact
from application.shared.ports import OutboxMessage
from domain.conversation.model import Conversation, Message, Role, Usage
from domain.conversation.ports import UsageRecord

_ADD_OUTBOX = insert(outbox)


class SqlChatStore:
    def __init__(self, engine: AsyncEngine, connections: KeptConnections | None = None) -> None:
        """`connections`: where the direct statements take their connections (a set of its own by default)."""
        self._engine = engine
        self._direct = engine.dialect.name == "postgresql"
        self._connections = connections or KeptConnections(engine)

    async def aclose(self) -> None:
        await self._connections.aclose()

    async def load_turn(self, user_id: UUID, conversation_id: UUID, *, with_history: bool = True) -> LoadedTurn | None:
        if self._direct:
            statement = _LOAD_TURN if with_history else _LOAD_CONVERSATION
            rows = await self._connections.fetch(statement, {"key": conversation_id, "user_id": user_id})
            return _loaded(rows) if rows else None
        tx = SqlTransaction(self._engine)
        try:
            conversation = await SqlConversationRepository(tx).get_for_user(user_id, conversation_id)
            if conversation is None:
                return None
            history = await SqlMessageRepository(tx).list_for_conversation(conversation_id) if with_history else []
        finally:
            await tx.close()
        return LoadedTurn(conversation, history)

    async def record_prompt(self, conversation: Conversation, message: Message, *, new: bool) -> None:
        if self._direct:
            values = _prefixed("m", message_values(message))
            if new:
                values |= _prefixed("c", _counted(conversation, message))
            else:
                values |= {"c_key": conversation.id, "c_at": message.created_at}
            await self._connections.fetch(_NEW_PROMPT if new else _PROMPT, values)
            return
        tx = SqlTransaction(self._engine)
        try:
            if new:
                counted = Conversation(**_counted(conversation, message))
                await SqlConversationRepository(tx).add(counted)
            else:
                await count_message(tx, conversation.id, message.created_at)
            await SqlMessageRepository(tx).add(message)
            await tx.commit()
        finally:
            await tx.close()

    async def record_reply(
        self,
        message: Message | None,
        usage: UsageRecord,
        outbox: Sequence[OutboxMessage] = (),
        facts: Sequence[Fact] = (),
        crossings: Sequence[Crossing] = (),
    ) -> None:
        if self._direct:
            await self._record_reply_direct(message, usage, outbox, facts, crossings)
            return
        tx = SqlTransaction(self._engine)
        try:
            if message is not None:
                await SqlMessageRepository(tx).add(message)
                await count_message(tx, message.conversation_id, message.created_at)
            total = await add_usage(tx, usage)  # the period's row stays locked until the commit
            if total is not None:
                outbox = [*outbox, *fired(crossings, total - usage.usage.total_tokens, total)]
            for outbox_message in outbox:
                await tx.execute(_ADD_OUTBOX, sql_outbox.new_message_values(outbox_message))
            await _add_facts(tx, facts)
            await tx.commit()
        finally:
            await tx.close()

    async def record_facts(self, facts: Sequence[Fact]) -> None:
        if not facts:
            return
        if self._direct:
            await self._connections.fetch(_FACTS_ONLY, _fact_arrays(facts))
            return
        tx = SqlTransaction(self._engine)
        try:
            await _add_facts(tx, facts)
            await tx.commit()
        finally:
            await tx.close()

    # --- PostgreSQL, straight on asyncpg ---------------------------------------------------------

    async def _record_reply_direct(
        self,
        message: Message | None,
        usage: UsageRecord,
        outbox: Sequence[OutboxMessage],
        facts: Sequence[Fact],
        crossings: Sequence[Crossing],
    ) -> None:
        day, period = day_total_values(usage), period_total_values(usage)
        values = _prefixed("u", usage_record_values(usage)) | _prefixed("t", model_total_values(usage))
        if message is not None:
            values |= _prefixed("m", message_values(message))
            values |= {"c_key": message.conversation_id, "c_at": message.created_at}
        tokens = False
        if day is not None and period is not None:  # not a cached reply
            values |= _prefixed("d", day) | _prefixed("p", period)
            tokens = True
        if outbox:
            values |= _outbox_arrays("o", outbox)
        crossed = tokens and bool(crossings)
        if crossed:
            values |= {"x_crossings": _crossings_document(crossings), "x_trace": current_traceparent()}
        if facts:
            values |= _fact_arrays(facts)
        statement = _reply_statement(message is not None, tokens, bool(outbox), bool(facts), crossed)
        await self._connections.fetch(statement, values)


async def _add_facts(tx: SqlTransaction, facts: Sequence[Fact]) -> None:
    if facts:
        statement = insert_fact(tx.dialect)
        for fact in facts:
            await tx.execute(statement, fact_values(fact))


def _outbox_arrays(prefix: str, messages: Sequence[OutboxMessage]) -> dict[str, Any]:
    return {
        f"{prefix}_id": [m.id for m in messages],
        f"{prefix}_topic": [m.topic for m in messages],
        f"{prefix}_payload": [json.dumps(dict(m.payload)) for m in messages],
        f"{prefix}_created_at": [m.created_at for m in messages],
        f"{prefix}_trace": [current_traceparent()] * len(messages),
    }


def _crossings_document(crossings: Sequence[Crossing]) -> str:
    """The candidates as one JSON array (one parameter, parsed by the server, where seven arrays cost the driver
    more to encode than the rest of the reply's values)."""
    return json.dumps(
        [
            {
                "id": str(c.message.id),
                "topic": c.message.topic,
                "payload": c.message.payload,
                "created_at": c.message.created_at.isoformat(),
                "mark": c.mark,
                "metered": c.metered,
            }
            for c in crossings
        ]
    )


def _fact_arrays(facts: Sequence[Fact]) -> dict[str, Any]:
    return {
        "f_id": [f.id for f in facts],
        "f_kind": [f.kind.value for f in facts],
        "f_occurred_at": [f.occurred_at for f in facts],
        "f_user_id": [f.user_id for f in facts],
        "f_data": [json.dumps(dict(f.data)) for f in facts],
    }


def _counted(conversation: Conversation, message: Message) -> dict[str, Any]:
    """A new conversation's columns as stored with its first message."""
    values = conversation_values(conversation)
    values.update(message_count=conversation.message_count + 1, updated_at=message.created_at)
    return values


def _prefixed(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{prefix}_{key}": value for key, value in values.items()}


def _insert(table: str, prefix: str, columns: Sequence[str]) -> str:
    """Our own table and column names (never input) and one named parameter per column."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(f':{prefix}_{c}' for c in columns)})"  # noqa: S608


_CONVERSATION_COLUMNS = ("id", "user_id", "title", "model", "created_at", "updated_at", "message_count")
_MESSAGE_COLUMNS = (
    "id",
    "conversation_id",
    "user_id",
    "role",
    "content",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cached",
    "created_at",
)
_USAGE_COLUMNS = (
    "id",
    "user_id",
    "message_id",
    "model",
    "provider",
    "prompt_tokens",
    "completion_tokens",
    "cached",
    "period_start",
    "created_at",
    "latency_ms",
    "ttft_ms",
    "failovers",
    "cost_micros",
)
_COUNT = "UPDATE conversations SET message_count = message_count + 1, updated_at = :c_at WHERE id = :c_key"
_NEW_PROMPT = DriverStatement(
    f"WITH c AS ({_insert('conversations', 'c', _CONVERSATION_COLUMNS)}) {_insert('messages', 'm', _MESSAGE_COLUMNS)}"
)
_PROMPT = DriverStatement(f"WITH c AS ({_COUNT}) {_insert('messages', 'm', _MESSAGE_COLUMNS)}")
_MODEL_TOTAL = (
    "INSERT INTO usage_model_totals"
    " (user_id, period_start, model, provider, requests, prompt_tokens, completion_tokens)"
    " VALUES (:t_user_id, :t_period_start, :t_model, :t_provider, :t_requests, :t_prompt_tokens, :t_completion_tokens)"
    " ON CONFLICT (user_id, period_start, model, provider) DO UPDATE SET"
    " requests = usage_model_totals.requests + excluded.requests,"
    " prompt_tokens = usage_model_totals.prompt_tokens + excluded.prompt_tokens,"
    " completion_tokens = usage_model_totals.completion_tokens + excluded.completion_tokens"
)
_DAY_TOTAL = (
    "INSERT INTO usage_day_totals (user_id, period_start, day, total_tokens)"
    " VALUES (:d_user_id, :d_period_start, :d_day, :d_total_tokens)"
    " ON CONFLICT (user_id, period_start, day) DO UPDATE SET"
    " total_tokens = usage_day_totals.total_tokens + excluded.total_tokens"
)
_PERIOD_TOTAL = (
    "INSERT INTO usage_period_totals (user_id, period_start, total_tokens)"
    " VALUES (:p_user_id, :p_period_start, :p_total_tokens)"
    " ON CONFLICT (user_id, period_start) DO UPDATE SET"
    " total_tokens = usage_period_totals.total_tokens + excluded.total_tokens"
    " RETURNING total_tokens"
)
_OUTBOX = (
    "INSERT INTO outbox (id, topic, payload, created_at, attempts, trace_context)"
    " SELECT id, topic, payload::jsonb, created_at, 0, trace_context"
    " FROM unnest(:o_id::uuid[], :o_topic::text[], :o_payload::text[], :o_created_at::timestamptz[],"
    " :o_trace::text[])"
    " AS o (id, topic, payload, created_at, trace_context)"
)
# Crossing.fired (application/conversation/crossings.py) in SQL, on the period's total as the upsert `p` left it
# (its row locked: a concurrent reply of the same user waits, then adds to this total): a metered crossing fires
# at or past its mark with `tokens` the reply's tokens from the mark on; any other fires when the reply reaches
# its mark.
_CROSSINGS = (
    "INSERT INTO outbox (id, topic, payload, created_at, attempts, trace_context)"
    " SELECT x.id, x.topic, CASE WHEN x.metered THEN jsonb_set(x.payload, '{tokens}',"
    " to_jsonb(p.total_tokens - GREATEST(p.total_tokens - :p_total_tokens, x.mark - 1)))"
    " ELSE x.payload END, x.created_at, 0, :x_trace::text"
    " FROM jsonb_to_recordset(:x_crossings::jsonb)"
    " AS x (id uuid, topic text, payload jsonb, created_at timestamptz, mark bigint, metered boolean), p"
    " WHERE CASE WHEN x.metered THEN p.total_tokens >= x.mark"
    " ELSE p.total_tokens - :p_total_tokens < x.mark AND x.mark <= p.total_tokens END"
)

_FACTS = (
    "INSERT INTO analytics_facts (id, kind, occurred_at, user_id, data)"
    " SELECT id, kind, occurred_at, user_id, data::jsonb"
    " FROM unnest(:f_id::uuid[], :f_kind::text[], :f_occurred_at::timestamptz[], :f_user_id::uuid[], :f_data::text[])"
    " AS f (id, kind, occurred_at, user_id, data)"
    " ON CONFLICT (id) DO NOTHING"
)
_FACTS_ONLY = DriverStatement(_FACTS)


@functools.cache
def _reply_statement(
    with_message: bool, with_tokens: bool, with_outbox: bool, with_facts: bool, with_crossings: bool
) -> DriverStatement:
    parts = [("u", _insert("usage_records", "u", _USAGE_COLUMNS)), ("t", _MODEL_TOTAL)]
    if with_message:
        parts += [("m", _insert("messages", "m", _MESSAGE_COLUMNS)), ("c", _COUNT)]
    if with_tokens:
        parts += [("d", _DAY_TOTAL), ("p", _PERIOD_TOTAL)]
    if with_outbox:
        parts.append(("o", _OUTBOX))
    if with_crossings:
        parts.append(("x", _CROSSINGS))
    if with_facts:
        parts.append(("f", _FACTS))
    return DriverStatement("WITH " + ", ".join(f"{name} AS ({sql})" for name, sql in parts) + " SELECT 1")


_SELECT_CONVERSATION = "SELECT c.id, c.user_id, c.title, c.model, c.created_at, c.updated_at, c.message_count"
_LOAD_CONVERSATION = DriverStatement(
    f"{_SELECT_CONVERSATION} FROM conversations c WHERE c.id = :key AND c.user_id = :user_id"
)
_LOAD_TURN = DriverStatement(
    f"{_SELECT_CONVERSATION}, m.id AS m_id, m.role AS m_role, m.content AS m_content, m.model AS m_model,"
    " m.provider AS m_provider, m.prompt_tokens AS m_prompt_tokens, m.completion_tokens AS m_completion_tokens,"
    " m.cached AS m_cached, m.created_at AS m_created_at"
    " FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id"
    " WHERE c.id = :key AND c.user_id = :user_id ORDER BY m.created_at, m.id"
)


def _uuid(value: UUID) -> UUID:
    """asyncpg's own UUID subclass, as the standard library's."""
    return UUID(int=value.int)


def _loaded(rows: list[asyncpg.Record]) -> LoadedTurn:
    first = rows[0]
    conversation = Conversation(
        id=_uuid(first["id"]),
        user_id=_uuid(first["user_id"]),
        title=first["title"],
        model=first["model"],
        created_at=first["created_at"],
        updated_at=first["updated_at"],
        message_count=first["message_count"],
    )
    history = [
        Message(
            id=_uuid(row["m_id"]),
            conversation_id=conversation.id,
            user_id=conversation.user_id,
            role=Role(row["m_role"]),
            content=row["m_content"],
            created_at=row["m_created_at"],
            model=row["m_model"],
            provider=row["m_provider"],
            usage=Usage(row["m_prompt_tokens"], row["m_completion_tokens"]),
            cached=row["m_cached"],
        )
        for row in rows
        if "m_id" in row and row["m_id"] is not None
    ]
    return LoadedTurn(conversation, history)
