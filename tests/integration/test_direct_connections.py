"""The chat store's direct asyncpg path on PostgreSQL (adapters/sql/chat_store.py): a reply cancelled in the
middle of its statement stores nothing and leaves the next caller a working connection, and a driver error
surfaces as SQLAlchemy's DBAPIError carrying asyncpg's exception, so the HTTP layer can tell a database that is
down from a bug."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from adapters.sql.chat_store import SqlChatStore
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.conversation.model import Conversation
from domain.identity.model import Role, User
from domain.shared.ids import new_id
from tests.factories.conversation import PERIOD, T0, ConversationFactory, MessageFactory, UsageRecordFactory

pytestmark = pytest.mark.postgres


async def test_a_reply_cancelled_mid_statement_stores_nothing_and_the_next_one_works(postgres_url: str) -> None:
    engine = create_engine(
        postgres_url, pool_size=2, max_overflow=0
    )  # the chat store keeps one: the next call reuses it
    store = SqlChatStore(engine)
    admin = await asyncpg.connect(_dsn(postgres_url))
    try:
        conversation = await _conversation(engine, store)
        blocker = admin.transaction()
        await blocker.start()
        await admin.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", conversation.id)
        reply = MessageFactory.reply_in(conversation)
        recording = asyncio.create_task(store.record_reply(reply, UsageRecordFactory.of(reply)))
        await _until(
            admin,
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        recording.cancel()
        with pytest.raises(asyncio.CancelledError):
            await recording
        await blocker.rollback()

        loaded = await store.load_turn(conversation.user_id, conversation.id)
        assert loaded is not None
        assert reply.id not in {m.id for m in loaded.history} and loaded.conversation.message_count == 1
        async with SqlUnitOfWork(engine) as uow:
            assert await uow.usage.total_for_period(conversation.user_id, PERIOD) == 0
        later = MessageFactory.reply_in(conversation, created_at=T0 + timedelta(seconds=1))
        await store.record_reply(later, UsageRecordFactory.of(later))
        loaded = await store.load_turn(conversation.user_id, conversation.id)
        assert loaded is not None and loaded.history[-1] == later and loaded.conversation.message_count == 2
    finally:
        await store.aclose()
        await admin.close()
        await engine.dispose()


async def test_a_driver_error_is_a_dbapi_error_with_asyncpgs_exception(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    store = SqlChatStore(engine)
    try:
        orphan = MessageFactory.reply_in(ConversationFactory.build(user_id=new_id()))  # no such conversation
        with pytest.raises(DBAPIError) as raised:
            await store.record_reply(orphan, UsageRecordFactory.of(orphan))
        assert isinstance(raised.value.orig, asyncpg.ForeignKeyViolationError)
    finally:
        await store.aclose()
        await engine.dispose()


async def _conversation(engine: object, store: SqlChatStore) -> Conversation:
    user = User(
        id=new_id(), email="ada@example.com", name=None, password_hash="h", role=Role.USER, plan="pro", created_at=T0
    )
    async with SqlUnitOfWork(engine) as uow:  # type: ignore[arg-type]
        await uow.users.add(user)
        await uow.commit()
    conversation = ConversationFactory.build(user_id=user.id)
    await store.record_prompt(conversation, MessageFactory.in_(conversation), new=True)
    return conversation


async def _until(admin: asyncpg.Connection, condition: str) -> None:
    """Ask PostgreSQL until `condition` holds (each ask is a round trip; nothing sleeps)."""
    for _ in range(2000):
        if await admin.fetchval(condition):
            return
    raise AssertionError(f"never true: {condition}")


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")
