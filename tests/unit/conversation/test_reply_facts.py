"""Every reply records its message.replied fact with the reply: complete, cut by max_tokens, cut by the client,
failed mid-reply, answered from the cache, or not answered at all; with what it cost at the model's price."""

from __future__ import annotations

import asyncio

import pytest

from adapters.memory.llm import Script, ScriptedProvider
from application.conversation.dto import ReplyDelta, ReplyStarted
from application.conversation.send_chat import ChatRequest
from application.shared.facts import FACT_FIELDS, Fact, FactKind
from domain.conversation.errors import ProviderUnavailable
from domain.conversation.model import Usage
from domain.shared.ids import new_id
from tests.unit.conversation.chat_harness import Chat, every_event


def replied(chat: Chat) -> list[Fact]:
    facts = chat.facts()
    assert all(f.kind is FactKind.MESSAGE_REPLIED for f in facts)
    return facts


async def test_a_reply_records_every_field_of_its_fact_and_what_it_cost() -> None:
    chat = Chat(ScriptedProvider("p", [Script(pieces=("Hello ", "there"), usage=Usage(1234, 567))]), prices=(15, 60))
    user = new_id()

    events = await every_event((await chat.send(ChatRequest(user, "pro", "Say hello."))).events())

    [fact] = replied(chat)
    started = events[0]
    assert isinstance(started, ReplyStarted)
    assert set(fact.row()) == {"id", "kind", "occurred_at", "user_id", *FACT_FIELDS[FactKind.MESSAGE_REPLIED]}
    assert fact.user_id == user and fact.occurred_at == chat.clock.now()
    data = fact.data
    assert data["conversation_id"] == str(started.conversation_id)
    assert (data["plan"], data["model"], data["provider"]) == ("pro", "m", "p")
    assert (data["prompt_tokens"], data["completion_tokens"]) == (1234, 567)
    assert data["cost_micros"] == 525  # (1234 x 15 + 567 x 60) c/Mtok = 525.3 micro-dollars, rounded half up
    assert data["finish_reason"] == "stop" and data["error"] is None and data["cached"] is False
    assert data["failovers"] == 0 and isinstance(data["latency_ms"], int) and isinstance(data["ttft_ms"], int)
    async with chat.uow() as uow:
        [record] = await uow.usage.list_for_user(user)
    assert record.cost_micros == 525


async def test_a_reply_cut_by_max_tokens_says_length() -> None:
    chat = Chat(ScriptedProvider("p", [Script(pieces=("x" * 256,), usage=None)]))  # an estimated 64 = max_tokens

    await every_event((await chat.send(ChatRequest(new_id(), "free", "Go on."))).events())

    [fact] = replied(chat)
    assert fact.data["finish_reason"] == "length" and fact.data["cost_micros"] == 0  # the model is free


async def test_a_cached_reply_costs_nothing_and_keeps_its_provider() -> None:
    chat = Chat(ScriptedProvider("p"), cache_ttl=60, prices=(250, 1000))
    user = new_id()
    await every_event((await chat.send(ChatRequest(user, "free", "2 + 2?"))).events())
    await every_event((await chat.send(ChatRequest(user, "free", "2 + 2?"))).events())

    # Both replies happen at the same (frozen) time: tell them apart by what they say, not by their order.
    [cached] = [fact for fact in replied(chat) if fact.data["cached"]]
    [first] = [fact for fact in replied(chat) if not fact.data["cached"]]
    assert first.data["cost_micros"] == 70  # (12 x 250 + 4 x 1000) / 100
    assert cached.data["cached"] is True and cached.data["cost_micros"] == 0
    assert cached.data["provider"] == "p" and cached.data["finish_reason"] == "stop"


async def test_a_reply_failing_mid_way_records_its_error() -> None:
    chat = Chat(ScriptedProvider("p", [Script(pieces=("Half ", "a ", "reply"), fail_after=2)]))

    await every_event((await chat.send(ChatRequest(new_id(), "free", "hi"))).events())

    [fact] = replied(chat)
    assert fact.data["finish_reason"] == "error" and fact.data["error"] == "provider-unavailable"
    assert fact.data["completion_tokens"] > 0  # type: ignore[operator]


async def test_a_reply_the_client_walked_away_from_says_cancelled() -> None:
    gate = asyncio.Event()
    chat = Chat(ScriptedProvider("p", [Script(pieces=("Partial ", "never sent"), usage=None, gate=gate)]))
    reply = await chat.send(ChatRequest(new_id(), "free", "hi"))
    events = reply.events()
    assert isinstance(await anext(events), ReplyStarted)
    assert isinstance(await anext(events), ReplyDelta)

    await reply.aclose()
    await chat.background.drain()

    [fact] = replied(chat)
    assert fact.data["finish_reason"] == "cancelled" and fact.data["error"] is None


async def test_a_turn_no_provider_answered_records_a_failed_fact_and_no_usage() -> None:
    chat = Chat(ScriptedProvider("p", [Script(fail_after=0)]))
    user = new_id()

    with pytest.raises(ProviderUnavailable):
        await chat.send(ChatRequest(user, "free", "hi"))

    [fact] = replied(chat)
    assert fact.data["error"] == "provider-unavailable" and fact.data["finish_reason"] == "error"
    assert (fact.data["provider"], fact.data["failovers"], fact.data["completion_tokens"]) == ("p", 1, 0)
    async with chat.uow() as uow:
        assert await uow.usage.list_for_user(user) == []
