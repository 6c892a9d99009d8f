"""One suite for conversation's repositories, run against memory, SQLite and PostgreSQL: the conversation
list, a conversation's messages and the usage page read back the same on every store."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol
from uuid import UUID, uuid4

import pytest

from application.conversation.ports import ConversationUnitOfWork
from application.identity.ports import IdentityUnitOfWork
from domain.conversation.model import Conversation, Message, Role, Usage
from domain.conversation.ports import DayUsage, ModelUsage, UsageRecord
from domain.identity.model import User
from domain.shared.ids import new_id
from tests.factories.identity import UserFactory


class ChatUnitOfWork(IdentityUnitOfWork, ConversationUnitOfWork, Protocol):
    """Users (every conversation has an owner) and conversation's repositories, in one transaction."""


UowFactory = Callable[[], ChatUnitOfWork]

# Not UTC, with microseconds: stores must keep the instant exactly and hand back an aware datetime.
PLUS_TWO = timezone(timedelta(hours=2))
T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=PLUS_TWO)
PERIOD = datetime(2026, 3, 1, tzinfo=UTC)
NEXT_PERIOD = datetime(2026, 4, 1, tzinfo=UTC)


async def stored_user(uow_factory: UowFactory, email: str = "ada@example.com") -> User:
    user = UserFactory.build(email=email, plan="free", created_at=T0)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


def a_conversation(user: User, **changes: object) -> Conversation:
    conversation = Conversation(
        id=new_id(), user_id=user.id, title="Why is the sky blue?", model="parley-demo", created_at=T0, updated_at=T0
    )
    for field, value in changes.items():
        setattr(conversation, field, value)
    return conversation


def a_message(conversation: Conversation, **changes: object) -> Message:
    message = Message(
        id=new_id(),
        conversation_id=conversation.id,
        user_id=conversation.user_id,
        role=Role.USER,
        content="Why is the sky blue?",
        created_at=T0,
    )
    for field, value in changes.items():
        setattr(message, field, value)
    return message


def a_record(user: User, prompt: int, completion: int, **changes: Any) -> UsageRecord:
    record = UsageRecord(
        id=new_id(),
        user_id=user.id,
        message_id=None,
        model="parley-demo",
        provider="demo",
        usage=Usage(prompt, completion),
        cached=False,
        period_start=PERIOD,
        created_at=T0,
    )
    return replace(record, **changes)


async def stored(uow_factory: UowFactory, *items: Conversation | Message | UsageRecord) -> None:
    async with uow_factory() as uow:
        for item in items:
            if isinstance(item, Conversation):
                await uow.conversations.add(item)
            elif isinstance(item, Message):
                await uow.messages.add(item)
            else:
                await uow.usage.add(item)
        await uow.commit()


def assert_aware(*moments: datetime) -> None:
    for moment in moments:
        assert moment.utcoffset() is not None


# --- conversations ------------------------------------------------------------------------------


async def test_a_conversation_reads_back_with_every_field_for_its_owner_only(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    conversation = a_conversation(
        ada, title="Ünïcode — titles ✓", updated_at=T0 + timedelta(minutes=3, microseconds=1), message_count=4
    )
    await stored(uow_factory, conversation)

    async with uow_factory() as uow:
        mine = await uow.conversations.get_for_user(ada.id, conversation.id)
        assert await uow.conversations.get_for_user(grace.id, conversation.id) is None
        assert await uow.conversations.get_for_user(ada.id, new_id()) is None

    assert mine == conversation
    assert mine is not None
    assert_aware(mine.created_at, mine.updated_at)


async def test_update_stores_title_model_activity_and_count(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    conversation, untouched = a_conversation(ada), a_conversation(ada, title="Another")
    await stored(uow_factory, conversation, untouched)

    async with uow_factory() as uow:
        loaded = await uow.conversations.get_for_user(ada.id, conversation.id)
        assert loaded is not None
        loaded.title = "Rayleigh scattering"
        loaded.model = "parley-demo-large"
        loaded.updated_at = T0 + timedelta(hours=1, microseconds=7)
        loaded.message_count = 2
        await uow.conversations.update(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.conversations.get_for_user(ada.id, conversation.id) == loaded
        assert await uow.conversations.get_for_user(ada.id, untouched.id) == untouched


async def test_a_conversation_updated_in_the_unit_that_added_it_keeps_the_update(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    conversation = a_conversation(ada)

    async with uow_factory() as uow:
        await uow.conversations.add(conversation)
        conversation.message_count = 1
        conversation.updated_at = T0 + timedelta(seconds=1)
        await uow.conversations.update(conversation)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.conversations.get_for_user(ada.id, conversation.id) == conversation


async def test_delete_removes_the_conversation_and_its_messages_but_keeps_its_usage(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    doomed, kept = a_conversation(ada), a_conversation(ada)
    reply = a_message(doomed, role=Role.ASSISTANT, content="Scattering.", usage=Usage(12, 3))
    kept_message = a_message(kept)
    record = a_record(ada, 12, 3, message_id=reply.id)
    await stored(uow_factory, doomed, kept, a_message(doomed), reply, kept_message, record)

    async with uow_factory() as uow:
        await uow.conversations.delete(doomed.id)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.conversations.get_for_user(ada.id, doomed.id) is None
        assert await uow.messages.list_for_conversation(doomed.id) == []
        assert await uow.conversations.get_for_user(ada.id, kept.id) == kept
        assert await uow.messages.list_for_conversation(kept.id) == [kept_message]
        assert await uow.usage.total_for_period(ada.id, PERIOD) == 15
    async with uow_factory() as uow:
        assert await uow.conversations.get_for_user(ada.id, doomed.id) is None


async def test_the_list_pages_newest_first_without_gaps_or_repeats(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    # Three conversations per instant, so ties cross page boundaries; random (v4) ids, so the
    # id tie-break is tested over the whole 128 bits, not just a creation-ordered prefix.
    mine = [
        a_conversation(ada, id=uuid4(), title=f"#{n}", updated_at=T0 + timedelta(minutes=n // 3)) for n in range(25)
    ]
    others = [a_conversation(grace, updated_at=T0 + timedelta(minutes=n)) for n in range(3)]
    shuffled = [*mine, *others]
    random.shuffle(shuffled)
    await stored(uow_factory, *shuffled)

    pages: list[list[Conversation]] = []
    before: tuple[datetime, UUID] | None = None
    async with uow_factory() as uow:
        for _ in range(4):  # bounded, so a cursor that does not move fails the test instead of hanging it
            page = list(await uow.conversations.list_for_user(ada.id, 10, before))
            if not page:
                break
            pages.append(page)
            # A cursor in another time zone names the same instant.
            before = (page[-1].updated_at.astimezone(PLUS_TWO), page[-1].id)

    assert [len(page) for page in pages] == [10, 10, 5]
    newest_first = sorted(mine, key=lambda c: (c.updated_at, c.id.int), reverse=True)
    assert [c for page in pages for c in page] == newest_first


async def test_an_empty_list_for_a_user_without_conversations(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    await stored(uow_factory, a_conversation(ada))

    async with uow_factory() as uow:
        assert await uow.conversations.list_for_user(new_id(), 10, None) == []


# --- messages -----------------------------------------------------------------------------------


async def test_messages_read_back_with_every_field_oldest_first(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    conversation, other = a_conversation(ada), a_conversation(ada)
    question = a_message(conversation, content="Why?\n\n```py\nprint('é')\n```")
    answer = a_message(
        conversation,
        role=Role.ASSISTANT,
        content="Because of Rayleigh scattering.",
        created_at=T0 + timedelta(seconds=2, microseconds=5),
        model="parley-demo",
        provider="demo",
        usage=Usage(prompt_tokens=21, completion_tokens=8),
        cached=True,
    )
    system = a_message(conversation, role=Role.SYSTEM, content="Be brief.", created_at=T0 - timedelta(seconds=1))
    same_instant = a_message(conversation, content="And at sunset?", created_at=answer.created_at)
    await stored(uow_factory, conversation, other, same_instant, answer, a_message(other), question, system)

    async with uow_factory() as uow:
        listed = await uow.messages.list_for_conversation(conversation.id)
        assert await uow.messages.list_for_conversation(new_id()) == []

    assert listed == [system, question, answer, same_instant]
    assert [m.role for m in listed] == [Role.SYSTEM, Role.USER, Role.ASSISTANT, Role.USER]
    assert all(isinstance(m.role, Role) for m in listed)
    assert (
        listed[1].model is None and listed[1].provider is None and listed[1].usage == Usage() and not listed[1].cached
    )
    assert_aware(*(m.created_at for m in listed))


# --- usage --------------------------------------------------------------------------------------


async def test_the_period_total_counts_this_users_uncached_tokens_only(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    await stored(
        uow_factory,
        a_record(ada, 10, 5),
        a_record(ada, 100, 50, model="parley-demo-large", latency_ms=840, ttft_ms=120, failovers=1),
        a_record(ada, 1000, 1000, cached=True),
        a_record(ada, 7, 7, period_start=NEXT_PERIOD),
        a_record(grace, 3, 3),
    )

    async with uow_factory() as uow:
        assert await uow.usage.total_for_period(ada.id, PERIOD) == 165
        assert await uow.usage.total_for_period(ada.id, NEXT_PERIOD) == 14
        assert await uow.usage.total_for_period(ada.id, datetime(2026, 2, 1, tzinfo=UTC)) == 0
        # The same instant written in another zone is the same period.
        assert await uow.usage.total_for_period(grace.id, PERIOD.astimezone(PLUS_TWO)) == 6


async def test_usage_by_model_counts_cached_requests_but_not_their_tokens(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    await stored(
        uow_factory,
        a_record(ada, 10, 5),
        a_record(ada, 20, 10),
        a_record(ada, 500, 500, cached=True),
        a_record(ada, 1, 2, provider="openai-compatible"),
        a_record(ada, 300, 30, model="claude", provider="anthropic", cached=True),
        a_record(ada, 4, 4, model="GPT-4o", provider="openai"),
        a_record(ada, 9, 9, period_start=NEXT_PERIOD),
        a_record(grace, 9, 9),
    )

    async with uow_factory() as uow:
        by_model = await uow.usage.by_model(ada.id, PERIOD)
        assert await uow.usage.by_model(grace.id, NEXT_PERIOD) == []

    # Sorted by (model, provider) in code point order, whatever the database's collation.
    assert by_model == [
        ModelUsage(model="GPT-4o", provider="openai", requests=1, prompt_tokens=4, completion_tokens=4),
        ModelUsage(model="claude", provider="anthropic", requests=1, prompt_tokens=0, completion_tokens=0),
        ModelUsage(model="parley-demo", provider="demo", requests=3, prompt_tokens=30, completion_tokens=15),
        ModelUsage(model="parley-demo", provider="openai-compatible", requests=1, prompt_tokens=1, completion_tokens=2),
    ]


async def test_usage_by_day_sums_uncached_tokens_per_utc_day_oldest_first(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    march_3 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    await stored(
        uow_factory,
        a_record(ada, 40, 2, created_at=march_3),
        # 01:30 on 2 March in UTC+2 is still 1 March in UTC.
        a_record(ada, 10, 5, created_at=datetime(2026, 3, 2, 1, 30, tzinfo=PLUS_TWO)),
        a_record(ada, 1, 1, created_at=datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)),
        a_record(ada, 500, 500, cached=True, created_at=march_3),
        a_record(ada, 500, 500, cached=True, created_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
        a_record(ada, 9, 9, period_start=NEXT_PERIOD, created_at=march_3),
        a_record(grace, 9, 9, created_at=march_3),
    )

    async with uow_factory() as uow:
        by_day = await uow.usage.by_day(ada.id, PERIOD)
        assert await uow.usage.by_day(grace.id, NEXT_PERIOD) == []

    assert by_day == [DayUsage(date="2026-03-01", total_tokens=17), DayUsage(date="2026-03-03", total_tokens=42)]


async def test_every_usage_record_of_a_user_reads_back_with_every_field_oldest_first(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    later = a_record(ada, 7, 7, period_start=NEXT_PERIOD, created_at=T0 + timedelta(days=31))
    first = a_record(ada, 100, 50, message_id=new_id(), latency_ms=840, ttft_ms=120, failovers=1)
    cached = a_record(ada, 1000, 1000, cached=True, created_at=T0 + timedelta(microseconds=1))
    await stored(uow_factory, later, cached, first, a_record(grace, 3, 3))

    async with uow_factory() as uow:
        records = await uow.usage.list_for_user(ada.id)
        assert await uow.usage.list_for_user(new_id()) == []

    assert records == [first, cached, later]
    assert_aware(*(moment for record in records for moment in (record.created_at, record.period_start)))


# --- the unit of work ---------------------------------------------------------------------------


async def test_a_rolled_back_unit_leaves_nothing(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    conversation = a_conversation(ada)

    async with uow_factory() as uow:
        await uow.conversations.add(conversation)
        await uow.messages.add(a_message(conversation))
        await uow.usage.add(a_record(ada, 10, 5))
        await uow.rollback()
    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            await uow.conversations.add(conversation)
            await uow.messages.add(a_message(conversation))
            await uow.usage.add(a_record(ada, 10, 5))
            raise RuntimeError("the reply failed")

    async with uow_factory() as uow:
        assert await uow.conversations.get_for_user(ada.id, conversation.id) is None
        assert await uow.conversations.list_for_user(ada.id, 10, None) == []
        assert await uow.messages.list_for_conversation(conversation.id) == []
        assert await uow.usage.total_for_period(ada.id, PERIOD) == 0
        assert await uow.usage.by_model(ada.id, PERIOD) == []
