"""Accounting for a reply: the ledger is settled while the reply is recorded, and the user's durable period
total before and after the record decides the outbox messages recorded with it, in the same transaction."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory.llm import ScriptedProvider
from adapters.memory.quota_ledger import InMemoryQuotaLedger
from application.conversation.chat_account import AccountReply
from application.conversation.chat_prepare import ChatRequest, PreparedTurn, PrepareTurn
from application.conversation.chat_stream import StreamOutcome
from application.conversation.ports import Reservation, Settlement
from application.conversation.quota import QuotaGate
from application.conversation.response_cache import CachedReply
from application.conversation.router import OpenedStream
from application.shared import topics
from domain.conversation.errors import QuotaUnavailable
from domain.conversation.model import Usage
from domain.conversation.ports import TextDelta, UsageReport
from domain.shared.errors import Conflict
from domain.shared.ids import new_id
from tests.factories.conversation import PERIOD
from tests.unit.conversation.chat_harness import LIMIT, Chat, FixedAllowance


async def reserved_turn(chat: Chat, used_before: int = 0) -> PreparedTurn:
    turn = await PrepareTurn(chat.catalogue, chat.allowance, chat.store, chat.cache, chat.clock)(
        ChatRequest(new_id(), "free", "hi")
    )
    await chat.spent(turn.request.user_id, turn.allowance, used_before)
    turn.reservation = await chat.quota.reserve(turn.request.user_id, turn.allowance, 100)
    await chat.store.record_prompt(turn.conversation, turn.user_message(), new=True)
    return turn


def produced(usage: Usage, text: str = "An answer.") -> tuple[OpenedStream, StreamOutcome]:
    async def nothing():  # type: ignore[no-untyped-def]
        return
        yield

    outcome = StreamOutcome(parts=[text], report=UsageReport(usage), ended=True)
    return OpenedStream("p", TextDelta(text), nothing(), failovers=1, started_at=0.0, ttft_ms=7), outcome


async def test_a_reply_is_settled_recorded_and_timed_on_the_injected_clock() -> None:
    chat = Chat(ScriptedProvider("p"))
    turn = await reserved_turn(chat)
    opened, outcome = produced(Usage(30, 12))
    chat.clock.advance(timedelta(milliseconds=250))

    message, quota = await AccountReply(chat.quota, chat.store, chat.cache, chat.clock)(turn, opened, outcome)

    assert (quota.used, quota.remaining) == (42, LIMIT - 42)
    async with chat.uow() as uow:
        assert (await uow.messages.list_for_conversation(turn.conversation.id))[-1] == message
        assert await uow.usage.total_for_period(turn.request.user_id, PERIOD) == 42
    (record,) = chat.db.table("usage_records").values()
    assert (record.latency_ms, record.ttft_ms, record.failovers, record.message_id) == (250, 7, 1, message.id)
    assert chat.outbox() == []


async def test_crossing_a_threshold_and_overage_are_recorded_with_the_reply() -> None:
    chat = Chat(ScriptedProvider("p"), allowance=FixedAllowance(overage=500))
    turn = await reserved_turn(chat, used_before=790)
    opened, outcome = produced(Usage(200, 30))  # 790 -> 1,020 of 1,000: past 80% and 100%, 20 over

    await AccountReply(chat.quota, chat.store, chat.cache, chat.clock)(turn, opened, outcome)

    by_topic = {m.topic: m.payload for m in chat.outbox()}  # type: ignore[attr-defined]
    assert set(by_topic) == {topics.QUOTA_THRESHOLD, topics.OVERAGE}
    assert by_topic[topics.OVERAGE]["tokens"] == 20
    thresholds = [m.payload["threshold"] for m in chat.outbox() if m.topic == topics.QUOTA_THRESHOLD]  # type: ignore[attr-defined]
    assert sorted(thresholds) == [80, 100]


async def test_a_reply_whose_messages_cannot_be_recorded_leaves_no_record_of_it() -> None:
    chat = Chat(ScriptedProvider("p"))
    turn = await reserved_turn(chat, used_before=790)
    opened, outcome = produced(Usage(10, 10))  # crosses 80%: one outbox message

    class EveryIdTaken(dict[object, object]):
        def get(self, key: object, default: object = None) -> object:
            return "a message stored before"

    chat.db.tables["outbox"] = EveryIdTaken()  # so the outbox insert fails at commit
    with pytest.raises(Conflict):
        await AccountReply(chat.quota, chat.store, chat.cache, chat.clock)(turn, opened, outcome)

    async with chat.uow() as uow:
        assert await uow.usage.total_for_period(turn.request.user_id, PERIOD) == 790  # the earlier spending only
        assert len(await uow.messages.list_for_conversation(turn.conversation.id)) == 1  # the prompt only
    assert chat.outbox() == []


async def test_a_cached_reply_is_recorded_as_a_request_that_costs_nothing() -> None:
    chat = Chat(ScriptedProvider("p"))
    turn = await reserved_turn(chat, used_before=10)

    message, quota = await AccountReply(chat.quota, chat.store, chat.cache, chat.clock).cached(
        turn, CachedReply("From the cache.", Usage(40, 4), "p")
    )

    assert message.cached and quota.used == 10
    async with chat.uow() as uow:
        (model,) = [m for m in await uow.usage.by_model(turn.request.user_id, PERIOD) if m.model == turn.spec.id]
        assert (model.requests, model.prompt_tokens, model.completion_tokens) == (1, 0, 0)


class Flaky:
    """The chat store, failing the first `failures` record_reply calls: before writing (`stored=False`) or after
    committing, as when the answer is lost on the way back (`stored=True`)."""

    def __init__(self, store: object, failures: int, *, stored: bool) -> None:
        self._store, self._failures, self._stored = store, failures, stored

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def record_reply(self, *args: object, **kwargs: object) -> None:
        if self._failures:
            self._failures -= 1
            if self._stored:
                await self._store.record_reply(*args, **kwargs)  # type: ignore[attr-defined]
            raise ConnectionResetError("the database went away")
        await self._store.record_reply(*args, **kwargs)  # type: ignore[attr-defined]


@pytest.mark.parametrize("stored", [False, True], ids=["failed-before-writing", "answer-lost-after-commit"])
async def test_a_reply_record_survives_a_brief_database_outage_and_is_stored_once(stored: bool) -> None:
    chat = Chat(ScriptedProvider("p"))
    turn = await reserved_turn(chat)
    opened, outcome = produced(Usage(30, 12))
    account = AccountReply(chat.quota, Flaky(chat.store, 1, stored=stored), chat.cache, chat.clock, retry_delays=(0,))  # type: ignore[arg-type]

    await account(turn, opened, outcome)

    async with chat.uow() as uow:
        messages = await uow.messages.list_for_conversation(turn.conversation.id)
        assert [m.content for m in messages] == ["hi", "An answer."]
        assert await uow.usage.total_for_period(turn.request.user_id, PERIOD) == 42  # counted once


async def test_a_reply_record_that_keeps_failing_fails_loudly() -> None:
    chat = Chat(ScriptedProvider("p"))
    turn = await reserved_turn(chat)
    opened, outcome = produced(Usage(30, 12))
    account = AccountReply(chat.quota, Flaky(chat.store, 3, stored=False), chat.cache, chat.clock, retry_delays=(0, 0))  # type: ignore[arg-type]

    with pytest.raises(ConnectionResetError):
        await account(turn, opened, outcome)


class UnreachableAtSettle(InMemoryQuotaLedger):
    """A ledger that answers reserve and balance, and cannot be reached for the first `failures` settles."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def settle(self, reservation: Reservation, actual: int) -> Settlement:
        if self.failures:
            self.failures -= 1
            raise QuotaUnavailable()
        return await super().settle(reservation, actual)


async def test_a_ledger_that_blinks_at_settle_is_settled_on_a_later_try() -> None:
    chat = Chat(ScriptedProvider("p"), ledger=UnreachableAtSettle(failures=1))
    turn = await reserved_turn(chat, used_before=100)
    opened, outcome = produced(Usage(30, 12))
    quota_gate = QuotaGate(chat.ledger, chat.uow, settle_retry_delays=(0.0,))

    _, quota = await AccountReply(quota_gate, chat.store, chat.cache, chat.clock)(turn, opened, outcome)

    assert quota.used == 142  # the ledger's count: it was settled
    balance = await chat.ledger.balance(turn.request.user_id, turn.allowance)
    assert (balance.used, balance.reserved) == (142, 0)


async def test_a_ledger_unreachable_at_settle_still_lets_the_reply_be_recorded_and_told() -> None:
    chat = Chat(ScriptedProvider("p"), ledger=UnreachableAtSettle(failures=3))
    turn = await reserved_turn(chat)
    opened, outcome = produced(Usage(30, 12))
    quota_gate = QuotaGate(chat.ledger, chat.uow, settle_retry_delays=(0.0, 0.0))

    message, quota = await AccountReply(quota_gate, chat.store, chat.cache, chat.clock)(turn, opened, outcome)

    assert (quota.used, quota.remaining) == (42, LIMIT - 42)  # from the durable totals, this reply included
    async with chat.uow() as uow:
        assert (await uow.messages.list_for_conversation(turn.conversation.id))[-1] == message
        assert await uow.usage.total_for_period(turn.request.user_id, PERIOD) == 42  # billed: the record is there
