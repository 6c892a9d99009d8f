"""Step 4 of a chat: the user's prompt is written while the provider's stream opens, and each outcome of the two
leaves what a user expects: a prompt that could not be stored closes the stream and charges nothing; a provider
that never answered leaves the prompt stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from adapters.memory.chat_store import InMemoryChatStore
from adapters.memory.llm import Script, ScriptedProvider
from application.conversation.dto import ReplyFinished, ReplyStarted
from application.conversation.send_chat import ChatRequest
from domain.conversation.errors import ProviderUnavailable
from domain.conversation.model import Conversation, Message
from domain.conversation.ports import CompletionRequest, StreamEvent
from domain.shared.ids import new_id
from tests.unit.conversation.chat_harness import Chat, every_event

provider_called = asyncio.Event()


class WatchedProvider(ScriptedProvider):
    """Says when its stream was asked for."""

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        provider_called.set()
        async with aclosing(super().stream(request)) as events:
            async for event in events:
                yield event


class PromptWaitsForTheProvider(InMemoryChatStore):
    """Stores the prompt only once the provider was called: a chat that wrote the prompt first would wait forever."""

    async def record_prompt(self, conversation: Conversation, message: Message, *, new: bool) -> None:
        await asyncio.wait_for(provider_called.wait(), timeout=5)
        await super().record_prompt(conversation, message, new=new)


class PromptFails(InMemoryChatStore):
    async def record_prompt(self, conversation: Conversation, message: Message, *, new: bool) -> None:
        await asyncio.wait_for(provider_called.wait(), timeout=5)
        raise ConnectionError("the database went away")


@pytest.fixture(autouse=True)
def _fresh_event() -> None:
    provider_called.clear()


async def _stored(chat: Chat, user: object) -> list[str]:
    async with chat.uow() as uow:
        conversations = await uow.conversations.list_for_user(user, 10, None)  # type: ignore[arg-type]
        return [m.content for c in conversations for m in await uow.messages.list_for_conversation(c.id)]


async def test_the_prompt_is_written_while_the_provider_stream_opens() -> None:
    chat = Chat(WatchedProvider("p"), store_class=PromptWaitsForTheProvider)
    user = new_id()

    reply = await chat.send(ChatRequest(user, "free", "hi"))
    events = await every_event(reply.events())

    assert isinstance(events[0], ReplyStarted) and isinstance(events[-1], ReplyFinished)
    assert await _stored(chat, user) == ["hi", "Hello from a script."]


async def test_a_prompt_that_cannot_be_stored_closes_the_stream_and_charges_nothing() -> None:
    chat = Chat(WatchedProvider("p"), store_class=PromptFails)
    user = new_id()

    with pytest.raises(ConnectionError):
        await chat.send(ChatRequest(user, "free", "hi"))

    assert chat.provider.closed == 1  # the provider call was cancelled
    balance = await chat.quota.balance(user, await chat.allowance.current(user, "free", chat.clock.now()))
    assert (balance.used, balance.reserved) == (0, 0)
    assert await _stored(chat, user) == []


async def test_a_provider_that_never_answers_leaves_the_prompt_stored_and_charges_nothing() -> None:
    chat = Chat(WatchedProvider("p", [Script(fail_after=0)]), store_class=PromptWaitsForTheProvider)
    user = new_id()

    with pytest.raises(ProviderUnavailable):
        await chat.send(ChatRequest(user, "free", "hi"))

    assert await _stored(chat, user) == ["hi"]
    balance = await chat.quota.balance(user, await chat.allowance.current(user, "free", chat.clock.now()))
    assert (balance.used, balance.reserved) == (0, 0)
    assert [f.data["error"] for f in chat.facts()] == [ProviderUnavailable.code]
