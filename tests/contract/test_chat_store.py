"""One suite for the chat store, run against memory, SQLite and PostgreSQL (PostgreSQL through its direct
asyncpg path): what a chat turn loads, records and counts reads back the same on every store, a reply is
recorded with everything it causes or not at all, and concurrent replies into one conversation lose no count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

import pytest
from sqlalchemy import select

from adapters.memory.cache import InMemoryCache
from adapters.memory.chat_store import InMemoryChatStore
from adapters.memory.database import InMemoryDatabase, Transaction
from adapters.memory.facts import InMemoryFactLog
from adapters.memory.llm import Script, ScriptedProvider
from adapters.memory.quota_ledger import InMemoryQuotaLedger
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from adapters.sql.chat_store import SqlChatStore
from adapters.sql.engine import create_engine
from adapters.sql.tables import analytics_facts
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.conversation.chat_store import ChatStore
from application.conversation.crossings import Crossing
from application.conversation.dto import ReplyFinished
from application.conversation.ports import ConversationUnitOfWork
from application.conversation.quota import QuotaGate
from application.conversation.response_cache import ResponseCache
from application.conversation.router import ProviderRouter
from application.conversation.send_chat import ChatRequest, SendChat
from application.identity.ports import IdentityUnitOfWork
from application.shared import topics
from application.shared.allowance import Allowance
from application.shared.facts import Fact, FactKind, fact_id
from application.shared.ports import OutboxMessage
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.model import Conversation, Usage
from domain.conversation.ports import DayUsage, ModelUsage, UsageRecord
from domain.identity.model import User
from domain.shared.clock import SystemClock
from domain.shared.errors import Conflict
from domain.shared.ids import new_id
from entrypoints.background import AsyncioBackgroundTasks
from tests.factories.conversation import PERIOD, T0, ConversationFactory, MessageFactory, UsageRecordFactory
from tests.factories.identity import UserFactory


class ChatUnitOfWork(IdentityUnitOfWork, ConversationUnitOfWork, Protocol):
    """Users (every conversation has an owner) and conversation's repositories, to look at what was stored."""


@dataclass
class Store:
    chat: ChatStore
    uow: Callable[[], ChatUnitOfWork]
    facts: Callable[[], Awaitable[list[Fact]]]
    """Every recorded analytics fact, read with a plain SELECT (memory: InMemoryFactLog.all())."""

    async def user(self, email: str = "ada@example.com") -> User:
        user = UserFactory.build(email=email, plan="pro", created_at=T0)
        async with self.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return user

    async def conversation(self, user: User, **changes: object) -> Conversation:
        """A conversation with its first message, recorded as a chat turn records it."""
        conversation = ConversationFactory.build(user_id=user.id, **changes)
        await self.chat.record_prompt(conversation, MessageFactory.in_(conversation), new=True)
        return conversation

    async def reread(self, user: User, conversation: Conversation) -> Conversation:
        async with self.uow() as uow:
            found = await uow.conversations.get_for_user(user.id, conversation.id)
        assert found is not None
        return found


@pytest.fixture
async def store(uow_backend: str | None) -> AsyncIterator[Store]:
    if uow_backend is None:
        database = InMemoryDatabase()

        async def in_memory() -> list[Fact]:
            return list(InMemoryFactLog(Transaction(database)).all())

        yield Store(InMemoryChatStore(database), lambda: InMemoryUnitOfWork(database), in_memory)
        return
    engine = create_engine(uow_backend, pool_size=4, max_overflow=2)  # concurrent callers queue for these
    chat_store = SqlChatStore(engine)

    async def in_sql() -> list[Fact]:
        async with engine.connect() as connection:
            rows = await connection.execute(select(analytics_facts).order_by(analytics_facts.c.occurred_at))
            return [
                Fact(
                    id=row.id, kind=FactKind(row.kind), occurred_at=row.occurred_at, user_id=row.user_id, data=row.data
                )
                for row in rows
            ]

    yield Store(chat_store, lambda: SqlUnitOfWork(engine), in_sql)
    await chat_store.aclose()
    await engine.dispose()


# --- loading a turn -----------------------------------------------------------------------------


async def test_a_turn_loads_the_conversation_and_its_history_for_its_owner_only(store: Store) -> None:
    ada, grace = await store.user(), await store.user("grace@example.com")
    conversation = ConversationFactory.build(user_id=ada.id, title="Ünïcode — titles ✓")
    question = MessageFactory.in_(conversation, content="Why?\n\n```py\nprint('é')\n```")
    await store.chat.record_prompt(conversation, question, new=True)
    answer = MessageFactory.reply_in(conversation, created_at=T0 + timedelta(seconds=2, microseconds=5), cached=True)
    await store.chat.record_reply(answer, UsageRecordFactory.of(answer))

    loaded = await store.chat.load_turn(ada.id, conversation.id)

    assert loaded is not None
    assert loaded.conversation == replace(conversation, message_count=2, updated_at=answer.created_at)
    assert loaded.history == [question, answer]
    assert all(m.created_at.utcoffset() is not None for m in loaded.history)
    assert await store.chat.load_turn(grace.id, conversation.id) is None
    assert await store.chat.load_turn(ada.id, new_id()) is None
    without = await store.chat.load_turn(ada.id, conversation.id, with_history=False)
    assert without is not None and without.history == [] and without.conversation == loaded.conversation


# --- recording ----------------------------------------------------------------------------------


async def test_a_prompt_adds_the_conversation_or_counts_into_it(store: Store) -> None:
    ada = await store.user()
    conversation = ConversationFactory.build(user_id=ada.id)
    first = MessageFactory.in_(conversation, created_at=T0 + timedelta(seconds=1))
    await store.chat.record_prompt(conversation, first, new=True)
    assert await store.reread(ada, conversation) == replace(conversation, message_count=1, updated_at=first.created_at)

    later = MessageFactory.in_(conversation, created_at=T0 + timedelta(minutes=5))
    stale = replace(conversation, message_count=0, title="a copy read long ago")  # never written back
    await store.chat.record_prompt(stale, later, new=False)

    assert await store.reread(ada, conversation) == replace(conversation, message_count=2, updated_at=later.created_at)
    async with store.uow() as uow:
        assert await uow.messages.list_for_conversation(conversation.id) == [first, later]


async def test_a_reply_is_stored_with_its_usage_its_counts_and_the_messages_it_causes(store: Store) -> None:
    ada = await store.user()
    conversation = await store.conversation(ada)
    reply = MessageFactory.reply_in(conversation, created_at=T0 + timedelta(seconds=3), usage=Usage(100, 20))
    record = UsageRecordFactory.of(reply)
    caused = [
        OutboxMessage(topic=topics.QUOTA_THRESHOLD, payload={"user_id": str(ada.id), "threshold": 80}, created_at=T0),
        OutboxMessage(topic=topics.OVERAGE, payload={"tokens": 7, "usage_id": str(record.id)}, created_at=T0),
    ]

    await store.chat.record_reply(reply, record, caused)

    assert (await store.reread(ada, conversation)).message_count == 2
    async with store.uow() as uow:
        assert (await uow.messages.list_for_conversation(conversation.id))[-1] == reply
        assert await uow.usage.total_for_period(ada.id, PERIOD) == 120
        assert [await uow.outbox.get(m.id) for m in caused] == caused
        assert await uow.usage.by_day(ada.id, PERIOD) == [DayUsage("2026-03-01", 120)]


async def test_a_reply_without_text_is_charged_but_adds_no_message(store: Store) -> None:
    ada = await store.user()
    conversation = await store.conversation(ada)

    await store.chat.record_reply(None, UsageRecordFactory.build(user_id=ada.id, usage=Usage(30, 0)))

    assert (await store.reread(ada, conversation)).message_count == 1
    async with store.uow() as uow:
        assert len(await uow.messages.list_for_conversation(conversation.id)) == 1
        assert await uow.usage.total_for_period(ada.id, PERIOD) == 30


async def test_usage_totals_count_cached_replies_as_requests_but_never_as_tokens(store: Store) -> None:
    ada, grace = await store.user(), await store.user("grace@example.com")
    conversation = await store.conversation(ada)
    march_3 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    replies = [
        (Usage(10, 5), False, "parley-demo", "demo", T0),
        (Usage(20, 10), False, "parley-demo", "demo", march_3),
        (Usage(500, 500), True, "parley-demo", "demo", datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
        (Usage(4, 4), False, "GPT-4o", "openai", march_3),
        (Usage(300, 30), True, "claude", "anthropic", march_3),
    ]
    for usage, cached, model, provider, at in replies:
        reply = MessageFactory.reply_in(conversation, usage=usage, cached=cached, model=model, provider=provider)
        await store.chat.record_reply(reply, UsageRecordFactory.of(reply, created_at=at))
    other_period = UsageRecordFactory.build(user_id=ada.id, period_start=PERIOD + timedelta(days=31))
    await store.chat.record_reply(None, other_period)
    await store.chat.record_reply(None, UsageRecordFactory.build(user_id=grace.id))

    async with store.uow() as uow:
        assert await uow.usage.total_for_period(ada.id, PERIOD) == 53
        assert await uow.usage.by_model(ada.id, PERIOD) == [  # code point order, whatever the collation
            ModelUsage("GPT-4o", "openai", requests=1, prompt_tokens=4, completion_tokens=4),
            ModelUsage("claude", "anthropic", requests=1, prompt_tokens=0, completion_tokens=0),
            ModelUsage("parley-demo", "demo", requests=3, prompt_tokens=30, completion_tokens=15),
        ]
        # 2 March had cached replies only: no tokens, no entry.
        assert await uow.usage.by_day(ada.id, PERIOD) == [DayUsage("2026-03-01", 15), DayUsage("2026-03-03", 38)]
        assert await uow.usage.total_for_period(ada.id, other_period.period_start) == 16


async def test_a_reply_whose_outbox_message_cannot_be_stored_stores_nothing(store: Store) -> None:
    ada = await store.user()
    conversation = await store.conversation(ada)
    taken = OutboxMessage(topic=topics.QUOTA_THRESHOLD, payload={"threshold": 80}, created_at=T0)
    first = MessageFactory.reply_in(conversation)
    await store.chat.record_reply(first, UsageRecordFactory.of(first), [taken])
    reply = MessageFactory.reply_in(conversation)
    fresh = OutboxMessage(topic=topics.OVERAGE, payload={"tokens": 3}, created_at=T0)

    with pytest.raises(Conflict):  # the second outbox message's id is taken: the insert fails mid-reply
        await store.chat.record_reply(reply, UsageRecordFactory.of(reply, usage=Usage(1000, 1000)), [fresh, taken])

    assert (await store.reread(ada, conversation)).message_count == 2
    async with store.uow() as uow:
        assert [m.id for m in await uow.messages.list_for_conversation(conversation.id)][-1] == first.id
        assert await uow.usage.total_for_period(ada.id, PERIOD) == first.usage.total_tokens
        assert await uow.outbox.get(fresh.id) is None


# --- what a reply causes, decided on the durable period total -------------------------------------------


def candidates(record: UsageRecord, threshold_mark: int, overage_mark: int) -> list[Crossing]:
    """A threshold message that fires on reaching `threshold_mark`, and overage metered from `overage_mark`."""
    notice = OutboxMessage(topic=topics.QUOTA_THRESHOLD, payload={"threshold": 80}, created_at=T0)
    overage = OutboxMessage(topic=topics.OVERAGE, payload={"tokens": 0, "usage_id": str(record.id)}, created_at=T0)
    return [Crossing(notice, threshold_mark), Crossing(overage, overage_mark, metered=True)]


async def caused(store: Store, crossings: list[list[Crossing]]) -> list[OutboxMessage]:
    """Of the candidates, the messages stored, in the candidates' order."""
    async with store.uow() as uow:
        found = [await uow.outbox.get(c.message.id) for each in crossings for c in each]
    return [m for m in found if m is not None]


async def test_a_reply_causes_a_crossing_when_it_reaches_the_mark_and_is_metered_past_it(store: Store) -> None:
    ada = await store.user()
    spent = [70, 20, 20, 5]  # the period's total: 70, 90 (reaches 80), 110 (10 past 100), 115 (5 more)
    records = [UsageRecordFactory.build(user_id=ada.id, usage=Usage(tokens, 0)) for tokens in spent]
    crossings = [candidates(record, threshold_mark=80, overage_mark=101) for record in records]

    for record, each in zip(records, crossings, strict=True):
        await store.chat.record_reply(None, record, crossings=each)

    stored = await caused(store, crossings)
    assert [(m.topic, m.payload.get("tokens")) for m in stored] == [
        (topics.QUOTA_THRESHOLD, None),
        (topics.OVERAGE, 10),
        (topics.OVERAGE, 5),
    ]
    assert stored[0].id == crossings[1][0].message.id  # the reply that took the total to 80 and past it
    assert stored[1].payload["usage_id"] == str(records[2].id)


async def test_concurrent_replies_of_one_user_cross_a_mark_once_and_meter_every_token_past_it(store: Store) -> None:
    ada = await store.user()
    records = [UsageRecordFactory.build(user_id=ada.id, usage=Usage(7, 3)) for _ in range(20)]  # 200 in all
    crossings = [candidates(record, threshold_mark=95, overage_mark=101) for record in records]

    await asyncio.gather(
        *(store.chat.record_reply(None, r, crossings=c) for r, c in zip(records, crossings, strict=True))
    )

    stored = await caused(store, crossings)
    assert len([m for m in stored if m.topic == topics.QUOTA_THRESHOLD]) == 1
    assert sum(m.payload["tokens"] for m in stored if m.topic == topics.OVERAGE) == 100  # 200 - the first 100
    async with store.uow() as uow:
        assert await uow.usage.total_for_period(ada.id, PERIOD) == 200


async def test_a_cached_reply_causes_no_crossing(store: Store) -> None:
    ada = await store.user()
    conversation = await store.conversation(ada)
    await store.chat.record_reply(None, UsageRecordFactory.build(user_id=ada.id, usage=Usage(100, 0)))
    reply = MessageFactory.reply_in(conversation, usage=Usage(40, 4), cached=True)
    record = UsageRecordFactory.of(reply)
    crossing = candidates(record, threshold_mark=1, overage_mark=1)

    await store.chat.record_reply(reply, record, crossings=crossing)

    assert await caused(store, [crossing]) == []


def replied_fact(record: UsageRecord, **changes: object) -> Fact:
    data: dict[str, str | int | bool | None] = {
        "model": record.model,
        "provider": record.provider,
        "prompt_tokens": record.usage.prompt_tokens,
        "completion_tokens": record.usage.completion_tokens,
        "cost_micros": 525,
        "cached": record.cached,
        "finish_reason": "stop",
    }
    kind = FactKind.MESSAGE_REPLIED
    return Fact(
        id=fact_id(kind, str(record.id)),
        kind=kind,
        occurred_at=record.created_at,
        user_id=record.user_id,
        data=data | changes,  # type: ignore[operator]
    )


async def test_a_reply_records_its_fact_with_it(store: Store) -> None:
    ada = await store.user()
    conversation = await store.conversation(ada)
    reply = MessageFactory.reply_in(conversation)
    record = UsageRecordFactory.of(reply)
    fact = replied_fact(record, conversation_id=str(conversation.id))

    await store.chat.record_reply(reply, record, (), [fact])
    silent = UsageRecordFactory.build(user_id=ada.id, usage=Usage(30, 0))
    await store.chat.record_reply(None, silent, (), [replied_fact(silent, finish_reason="cancelled")])

    facts = await store.facts()
    assert [f for f in facts if f.id == fact.id] == [fact]
    assert [f.data["finish_reason"] for f in facts if f.id != fact.id] == ["cancelled"]


async def test_a_fact_recorded_before_is_skipped_and_the_reply_still_stored(store: Store) -> None:
    ada = await store.user()
    conversation = await store.conversation(ada)
    first = MessageFactory.reply_in(conversation)
    record = UsageRecordFactory.of(first)
    await store.chat.record_reply(first, record, (), [replied_fact(record)])
    again = MessageFactory.reply_in(conversation)

    await store.chat.record_reply(again, UsageRecordFactory.of(again), (), [replied_fact(record, cost_micros=1)])

    assert (await store.reread(ada, conversation)).message_count == 3
    assert [f.data["cost_micros"] for f in await store.facts()] == [525]


async def test_a_reply_that_cannot_be_stored_records_no_fact(store: Store) -> None:
    ada = await store.user()
    conversation = await store.conversation(ada)
    first = MessageFactory.reply_in(conversation)
    await store.chat.record_reply(first, UsageRecordFactory.of(first))
    reply = replace(MessageFactory.reply_in(conversation), id=first.id)  # its message id is taken
    record = UsageRecordFactory.of(reply)

    with pytest.raises(Conflict):
        await store.chat.record_reply(reply, record, (), [replied_fact(record)])

    assert await store.facts() == []
    async with store.uow() as uow:
        assert len(await uow.usage.list_for_user(ada.id)) == 1


async def test_facts_of_a_turn_without_a_reply_are_recorded_alone(store: Store) -> None:
    ada = await store.user()
    fact = replied_fact(UsageRecordFactory.build(user_id=ada.id, usage=Usage(0, 0)), error="provider-unavailable")

    await store.chat.record_facts([fact])
    await store.chat.record_facts([fact])  # once

    assert await store.facts() == [fact]
    async with store.uow() as uow:
        assert await uow.usage.list_for_user(ada.id) == []


async def test_a_reply_keeps_its_cost(store: Store) -> None:
    ada = await store.user()
    conversation = await store.conversation(ada)
    reply = MessageFactory.reply_in(conversation)
    record = replace(UsageRecordFactory.of(reply), cost_micros=12_345_678_901)

    await store.chat.record_reply(reply, record)

    async with store.uow() as uow:
        assert [r.cost_micros for r in await uow.usage.list_for_user(ada.id)] == [12_345_678_901]


# --- through the use case -----------------------------------------------------------------------


class FixedAllowance:
    async def current(self, user_id: UUID, plan: str, now: datetime) -> Allowance:
        return Allowance(plan, 1_000_000, PERIOD, PERIOD + timedelta(days=31))


def send_chat(store: Store) -> SendChat:
    provider = ScriptedProvider("p", [Script(pieces=("An ", "answer."), usage=Usage(12, 4))] * 20)
    catalogue = ModelCatalogue([ModelSpec("m", (RouteStep("p", "up"),), 8192, frozenset({"pro"}))])
    return SendChat(
        store.chat,
        QuotaGate(InMemoryQuotaLedger(), store.uow),
        catalogue,
        ProviderRouter({"p": provider}),
        FixedAllowance(),
        ResponseCache(InMemoryCache(), 0),
        AsyncioBackgroundTasks(),
        SystemClock(),
    )


async def test_twenty_concurrent_chats_into_one_conversation_count_every_message(store: Store) -> None:
    ada = await store.user()
    chat = send_chat(store)
    first = await chat(ChatRequest(ada.id, "pro", "Let us talk.", model="m"))
    await _finish(first.events())
    conversation_id = first.started.conversation_id

    async def one_more(number: int) -> None:
        reply = await chat(ChatRequest(ada.id, "pro", f"Message {number}", conversation_id=conversation_id))
        await _finish(reply.events())

    await asyncio.gather(*(one_more(number) for number in range(19)))

    async with store.uow() as uow:
        conversation = await uow.conversations.get_for_user(ada.id, conversation_id)
        messages = await uow.messages.list_for_conversation(conversation_id)
        assert await uow.usage.total_for_period(ada.id, PERIOD) == 20 * 16
    assert conversation is not None and conversation.message_count == 40
    assert len(messages) == 40


async def _finish(events: AsyncIterator[object]) -> None:
    async for event in events:
        if isinstance(event, ReplyFinished):
            return
    raise AssertionError("no final event")
