"""A deleted account (identity.account_deleted), conversation's side: every conversation and message of the
user goes, in one job that can run again; usage records stay (accounting), other users keep theirs."""

from __future__ import annotations

from adapters.memory.database import InMemoryDatabase
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application.conversation.erase import EraseConversations
from application.shared import topics
from application.shared.ports import OutboxMessage
from tests.factories.conversation import T0, ConversationFactory, MessageFactory, UsageRecordFactory
from tests.factories.identity import UserFactory


async def test_every_conversation_of_the_user_goes_and_the_usage_stays() -> None:
    db = InMemoryDatabase()
    ada, grace = UserFactory.build(), UserFactory.build()
    mine = [ConversationFactory.build(user_id=ada.id) for _ in range(3)]
    theirs = ConversationFactory.build(user_id=grace.id)
    replies = [MessageFactory.reply_in(conversation) for conversation in [*mine, theirs]]
    async with InMemoryUnitOfWork(db) as uow:
        for user in (ada, grace):
            await uow.users.add(user)
        for conversation in [*mine, theirs]:
            await uow.conversations.add(conversation)
            await uow.messages.add(MessageFactory.in_(conversation))
        for reply in replies:
            await uow.messages.add(reply)
            await uow.usage.add(UsageRecordFactory.of(reply))
        await uow.commit()
    erase = EraseConversations(lambda: InMemoryUnitOfWork(db))
    message = OutboxMessage(topic=topics.ACCOUNT_DELETED, payload={"user_id": str(ada.id)}, created_at=T0)

    await erase(message)
    await erase(message)

    async with InMemoryUnitOfWork(db) as uow:
        assert await uow.conversations.list_for_user(ada.id, 10, None) == []
        for conversation in mine:
            assert await uow.messages.list_for_conversation(conversation.id) == []
        assert await uow.conversations.list_for_user(grace.id, 10, None) == [theirs]
        assert len(await uow.messages.list_for_conversation(theirs.id)) == 2
        assert len(await uow.usage.list_for_user(ada.id)) == 3
