"""Relaying a provider's stream: text passes on as it comes; what the accounting needs is collected."""

from __future__ import annotations

from collections.abc import AsyncIterator

from application.conversation.chat_stream import StreamOutcome, relay
from application.conversation.router import OpenedStream
from domain.conversation.errors import ProviderError
from domain.conversation.model import Usage
from domain.conversation.ports import StreamEvent, TextDelta, UsageReport


def opened(*events: StreamEvent, fail: bool = False) -> OpenedStream:
    async def rest() -> AsyncIterator[StreamEvent]:
        for event in events[1:]:
            yield event
        if fail:
            raise ProviderError("upstream reset the connection")

    return OpenedStream("p", events[0] if events else None, rest(), failovers=0, started_at=0.0, ttft_ms=5)


async def relayed(stream: OpenedStream, outcome: StreamOutcome) -> list[str]:
    return [delta.text async for delta in relay(stream, outcome)]


async def test_text_is_relayed_and_the_last_usage_report_kept() -> None:
    outcome = StreamOutcome()
    stream = opened(
        TextDelta("Hel"), TextDelta(""), UsageReport(Usage(5, 1)), TextDelta("lo"), UsageReport(Usage(5, 2), "length")
    )

    assert await relayed(stream, outcome) == ["Hel", "lo"]
    assert outcome.ended and outcome.failure is None and outcome.content == "Hello"
    assert outcome.usage(prompt_estimate=99) == Usage(5, 2)
    assert outcome.finish_reason(prompt_estimate=99, max_tokens=10) == "length"


async def test_a_provider_failing_mid_reply_ends_the_relay_keeping_what_was_written() -> None:
    outcome = StreamOutcome()

    assert await relayed(opened(TextDelta("Half a "), TextDelta("reply"), fail=True), outcome) == ["Half a ", "reply"]
    assert outcome.ended and isinstance(outcome.failure, ProviderError)
    assert outcome.usage(prompt_estimate=20) == Usage(
        20, 3
    )  # 12 characters, estimated: the provider never reported usage


async def test_without_a_report_a_reply_that_reached_max_tokens_was_cut_for_length() -> None:
    long, short = StreamOutcome(), StreamOutcome()
    await relayed(opened(TextDelta("x" * 40)), long)
    await relayed(opened(TextDelta("x" * 36)), short)

    assert long.finish_reason(prompt_estimate=3, max_tokens=10) == "length"
    assert short.finish_reason(prompt_estimate=3, max_tokens=10) == "stop"
    assert StreamOutcome().usage(prompt_estimate=3) == Usage(3, 0)
