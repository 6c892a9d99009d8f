"""The chat use case end to end on the in-memory adapters: a reply's events, why it ended, the cache, and a
client that walks away mid-reply (accounted for in the background, which graceful shutdown drains)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.memory.chat_store import InMemoryChatStore
from adapters.memory.llm import Script, ScriptedProvider
from application.conversation.dto import ReplyDelta, ReplyFailed, ReplyFinished, ReplyStarted
from application.conversation.send_chat import ChatRequest
from domain.conversation.errors import ReplyNotRecorded
from domain.conversation.model import Usage
from domain.shared.errors import Conflict
from domain.shared.ids import new_id
from tests.factories.conversation import PERIOD
from tests.unit.conversation.chat_harness import Chat, every_event


async def test_a_reply_streams_and_ends_with_why_it_ended() -> None:
    provider = ScriptedProvider(
        "p", [Script(pieces=("Cut ", "short"), usage=Usage(9, 64)), Script(pieces=("x" * 256,), usage=None)]
    )
    chat = Chat(provider)

    reply = await chat.send(ChatRequest(new_id(), "free", "Write a saga."))
    events = await every_event(reply.events())

    assert isinstance(events[0], ReplyStarted) and [e.text for e in events[1:-1]] == ["Cut ", "short"]  # type: ignore[attr-defined]
    finished = events[-1]
    assert isinstance(finished, ReplyFinished) and finished.message.content == "Cut short"
    assert finished.quota.used == 73 and finished.finish_reason == "stop"  # the provider's own reason
    unreported = await every_event((await chat.send(ChatRequest(new_id(), "free", "More."))).events())
    assert isinstance(unreported[-1], ReplyFinished) and unreported[-1].finish_reason == "length"  # 64 = max_tokens


async def test_a_repeated_request_is_answered_from_the_cache_at_no_cost() -> None:
    provider = ScriptedProvider("p")
    chat = Chat(provider, cache_ttl=60)
    user = new_id()
    first = await every_event((await chat.send(ChatRequest(user, "free", "2 + 2?"))).events())
    again = await chat.send(ChatRequest(user, "free", "2 + 2?"))
    events = await every_event(again.events())

    assert again.cached and len(provider.requests) == 1
    assert isinstance(events[-1], ReplyFinished) and events[-1].message.cached
    assert events[-1].quota.used == first[-1].quota.used  # type: ignore[union-attr]


async def test_a_provider_failing_mid_reply_keeps_and_charges_what_it_wrote() -> None:
    chat = Chat(ScriptedProvider("p", [Script(pieces=("Half ", "a ", "reply"), fail_after=2)]))
    events = await every_event((await chat.send(ChatRequest(new_id(), "free", "hi"))).events())

    failed = events[-1]
    assert isinstance(failed, ReplyFailed) and failed.message is not None and failed.message.content == "Half a "
    assert failed.quota.used > 0


async def test_a_client_gone_mid_reply_is_accounted_for_in_the_background() -> None:
    gate = asyncio.Event()
    chat = Chat(ScriptedProvider("p", [Script(pieces=("Partial ", "never sent"), usage=None, gate=gate)]))
    user = new_id()
    reply = await chat.send(ChatRequest(user, "free", "hi"))
    events = reply.events()
    assert isinstance(await anext(events), ReplyStarted)
    assert isinstance(await anext(events), ReplyDelta)

    await reply.aclose()  # the client hung up while the provider was still writing
    await chat.background.drain()

    async with chat.uow() as uow:
        (conversation,) = await uow.conversations.list_for_user(user, 10, None)
        messages = await uow.messages.list_for_conversation(conversation.id)
        assert [m.content for m in messages] == ["hi", "Partial "] and conversation.message_count == 2
        assert await uow.usage.total_for_period(user, PERIOD) > 0
    assert chat.provider.closed == 1  # the provider call was cancelled


async def test_a_cut_reply_answered_from_the_cache_still_says_it_was_cut() -> None:
    provider = ScriptedProvider("p", [Script(pieces=("x" * 256,), usage=None)])  # an estimated 64 = max_tokens
    chat = Chat(provider, cache_ttl=60)
    user = new_id()
    first = await every_event((await chat.send(ChatRequest(user, "free", "Go on."))).events())
    again = await every_event((await chat.send(ChatRequest(user, "free", "Go on."))).events())

    assert isinstance(first[-1], ReplyFinished) and first[-1].finish_reason == "length"
    assert isinstance(again[-1], ReplyFinished) and again[-1].message.cached
    assert again[-1].finish_reason == "length"


class ReplyNeverStored(InMemoryChatStore):
    async def record_reply(self, *args: Any, **kwargs: Any) -> None:
        raise Conflict("an id stored before")  # a failure recording does not retry: raised at once


async def test_a_reply_that_cannot_be_recorded_ends_with_an_error_event_not_a_cut_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chat = Chat(ScriptedProvider("p", [Script(pieces=("Said ", "it"))]), store_class=ReplyNeverStored)
    events = await every_event((await chat.send(ChatRequest(new_id(), "free", "hi"))).events())

    assert [type(e) for e in events] == [ReplyStarted, ReplyDelta, ReplyDelta, ReplyFailed]
    failed = events[-1]
    assert isinstance(failed, ReplyFailed) and isinstance(failed.error, ReplyNotRecorded)
    assert failed.error.code == "service-unavailable"
    (logged,) = [r for r in caplog.records if r.getMessage() == "chat.reply_not_recorded"]
    assert logged.exc_info is not None  # the traceback, for the bug or the outage behind it
