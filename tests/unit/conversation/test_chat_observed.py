"""What the chat use case tells the live counters and telemetry: a stream counts while it is open, a reply's
tokens and timings are reported once it is accounted for (also when its client walked away), and refusals are
counted by why."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from adapters.memory.llm import Script, ScriptedProvider
from application.conversation.send_chat import ChatRequest
from domain.conversation.errors import ProviderUnavailable, QuotaExceeded
from domain.conversation.model import Usage
from domain.shared.ids import new_id
from tests.unit.conversation.chat_harness import Chat, FixedAllowance, every_event


async def test_a_reply_is_counted_while_it_streams_and_reported_when_it_ends() -> None:
    chat = Chat(ScriptedProvider("p", [Script(pieces=("Hi ", "there"), usage=Usage(9, 3))]))

    reply = await chat.send(ChatRequest(new_id(), "free", "Hello"))
    events = reply.events()
    await anext(events)  # started
    await anext(events)  # the first piece
    assert (await chat.live.snapshot()).active_streams == 1
    chat.clock.advance(timedelta(seconds=1.5))
    rest = await every_event(events)

    snapshot = await chat.live.snapshot()
    assert len(rest) == 2 and snapshot.active_streams == 0
    assert (snapshot.messages_last_minute, snapshot.tokens_last_minute, snapshot.errors_last_minute) == (1, 12, 0)
    assert chat.telemetry.named("provider_called") == [{"provider": "p", "model": "m", "failed": False}]
    [finished] = chat.telemetry.named("reply_finished")
    assert finished == {
        "provider": "p",
        "model": "m",
        "latency_seconds": 1.5,
        "ttft_seconds": 0.0,
        "prompt_tokens": 9,
        "completion_tokens": 3,
        "error": False,
    }


async def test_a_reply_whose_client_walked_away_is_still_counted() -> None:
    gate = asyncio.Event()
    chat = Chat(ScriptedProvider("p", [Script(pieces=("Long ", "story"), usage=None, gate=gate)]))
    reply = await chat.send(ChatRequest(new_id(), "free", "Tell me"))
    events = reply.events()
    await anext(events)
    await anext(events)

    await reply.aclose()  # the client is gone
    await chat.background.drain()

    snapshot = await chat.live.snapshot()
    assert (snapshot.active_streams, snapshot.messages_last_minute) == (0, 1)
    assert len(chat.telemetry.named("reply_finished")) == 1


async def test_refusals_and_failures_are_counted_by_why() -> None:
    chat = Chat(ScriptedProvider("p", [Script(fail_after=0)]), allowance=FixedAllowance(limit=10))
    with pytest.raises(QuotaExceeded):
        await chat.send(ChatRequest(new_id(), "free", "Too much for the quota"))
    chat.allowance.limit = 1_000
    with pytest.raises(ProviderUnavailable):
        await chat.send(ChatRequest(new_id(), "free", "Nobody answers"))

    assert chat.telemetry.named("quota_refused") == [{"plan": "free"}]
    assert chat.telemetry.named("provider_called") == [{"provider": "p", "model": "m", "failed": True}]
    assert (await chat.live.snapshot()).errors_last_minute == 1
