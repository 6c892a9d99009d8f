"""One suite for every LlmProvider: a reply arrives in pieces that add up to the whole text, the usage comes
last, and every failure is a ProviderError that says whether another attempt could succeed.

The OpenAI and Anthropic adapters run through their real SDKs against local servers speaking the real wire
formats (tests/support/fake_openai.py, fake_anthropic.py), so the SDKs' own retries, timeouts and error
handling are part of what is tested."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest

from adapters.llm.anthropic import AnthropicProvider
from adapters.llm.demo import DemoProvider, demo_reply
from adapters.llm.openai import OpenAiProvider
from domain.conversation.errors import ProviderError
from domain.conversation.model import Role, Usage
from domain.conversation.ports import CompletionRequest, LlmProvider, StreamEvent, TextDelta, Turn, UsageReport
from domain.conversation.tokens import estimate_tokens
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAi, FakeUpstream, Scenario

REPLY = "The quick brown fox jumps over the lazy dog, twice."
QUESTION = CompletionRequest(
    model="test-model",
    messages=[Turn(Role.SYSTEM, "You answer briefly."), Turn(Role.USER, "Tell me about foxes.")],
    max_tokens=256,
)
CONVERSATION = CompletionRequest(
    model="test-model",
    messages=[
        Turn(Role.SYSTEM, "You are terse."),
        Turn(Role.USER, "What is the capital of France?"),
        Turn(Role.ASSISTANT, "Paris."),
        Turn(Role.USER, "And of Italy?"),
    ],
    max_tokens=64,
    temperature=0.3,
)
SHORT_READ_TIMEOUT = 0.2


@dataclass
class Harness:
    make: Callable[..., LlmProvider]
    """Builds the provider; keyword arguments go to its constructor (timeouts, retries, key)."""
    upstream: FakeUpstream | None
    """The fake provider it talks to; None for the demo model."""
    made: list[LlmProvider] = field(default_factory=list)

    def provider(self, **options: Any) -> LlmProvider:
        provider = self.make(**options)
        self.made.append(provider)
        return provider

    def arrange_reply(
        self, request: CompletionRequest, prompt_tokens: int = 23, completion_tokens: int = 11, piece_gap: float = 0.0
    ) -> tuple[str, Usage]:
        """Make the next answer known: the text and usage the provider must give for `request` (an upstream
        sends its pieces `piece_gap` seconds apart)."""
        if self.upstream is None:
            text = demo_reply(request.model, request.messages)
            prompt = sum(estimate_tokens(turn.content) for turn in request.messages)
            return text, Usage(prompt_tokens=prompt, completion_tokens=len(text.split(" ")))
        self.upstream.script(
            Scenario(reply=REPLY, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, piece_gap=piece_gap)
        )
        return REPLY, Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    async def aclose(self) -> None:
        for provider in self.made:
            if isinstance(provider, OpenAiProvider | AnthropicProvider):
                await provider.aclose()


def build_harness(kind: str, request: pytest.FixtureRequest) -> Harness:
    if kind == "demo":
        return Harness(lambda **_: DemoProvider(), None)
    fake: FakeUpstream = request.getfixturevalue(f"fake_{kind}")
    provider_class = OpenAiProvider if kind == "openai" else AnthropicProvider

    def make(**options: Any) -> LlmProvider:
        return provider_class(**{"api_key": fake.api_key, "base_url": fake.base_url, **options})

    return Harness(make, fake)


@pytest.fixture(params=["demo", "openai", "anthropic"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    built = build_harness(request.param, request)
    yield built
    await built.aclose()


@pytest.fixture(params=["openai", "anthropic"])
async def upstream_harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    """The providers that talk to an upstream over HTTP."""
    built = build_harness(request.param, request)
    yield built
    await built.aclose()


async def collect(provider: LlmProvider, request: CompletionRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]


async def collect_until_error(
    provider: LlmProvider, request: CompletionRequest
) -> tuple[list[StreamEvent], ProviderError]:
    events: list[StreamEvent] = []
    with pytest.raises(ProviderError) as caught:
        async for event in provider.stream(request):
            events.append(event)
    return events, caught.value


def text_of(events: list[StreamEvent]) -> list[str]:
    return [event.text for event in events if isinstance(event, TextDelta)]


def upstream(harness: Harness) -> FakeUpstream:
    assert harness.upstream is not None
    return harness.upstream


# Every provider


async def test_the_reply_streams_in_pieces_then_the_usage(harness: Harness) -> None:
    """Pieces the model sends apart reach the caller apart. For Anthropic this also checks the cumulative
    count: message_start says output_tokens 1 and message_delta the total; the total is the answer, not
    their sum."""
    reply, usage = harness.arrange_reply(QUESTION, piece_gap=0.005)

    events = await collect(harness.provider(), QUESTION)

    pieces = text_of(events)
    assert len(pieces) > 1
    assert "".join(pieces) == reply
    assert events[-1] == UsageReport(usage)
    assert sum(isinstance(event, UsageReport) for event in events) == 1


async def test_text_that_arrives_together_is_passed_on_as_one_piece(upstream_harness: Harness) -> None:
    """A burst of events (a fast model, a busy process) costs one trip down the chain, not one per token."""
    upstream(upstream_harness).script(Scenario(reply=REPLY, completion_tokens=11, burst=True))

    events = await collect(upstream_harness.provider(), QUESTION)

    assert text_of(events) == [REPLY]
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert usage.usage.completion_tokens == 11


async def test_a_reply_stops_at_max_tokens_and_says_so(harness: Harness) -> None:
    """OpenAI's finish_reason `length` and Anthropic's stop_reason `max_tokens` are both "length"."""
    request = CompletionRequest(model="test-model", messages=[Turn(Role.USER, "Tell me a long story.")], max_tokens=4)

    events = await collect(harness.provider(), request)

    words = "".join(text_of(events)).split()
    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert 0 < usage.usage.completion_tokens <= 4
    assert len(words) == usage.usage.completion_tokens
    assert usage.finish_reason == "length"


async def test_a_reply_the_model_finished_says_stop(harness: Harness) -> None:
    harness.arrange_reply(QUESTION)

    events = await collect(harness.provider(), QUESTION)

    usage = events[-1]
    assert isinstance(usage, UsageReport)
    assert usage.finish_reason == "stop"


async def test_stopping_early_leaves_the_provider_usable(harness: Harness) -> None:
    provider = harness.provider()
    harness.arrange_reply(QUESTION)
    stream = provider.stream(QUESTION)
    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]

    reply, usage = harness.arrange_reply(QUESTION)
    events = await collect(provider, QUESTION)

    assert isinstance(first, TextDelta)
    assert "".join(text_of(events)) == reply
    assert events[-1] == UsageReport(usage)


# The demo model


async def test_the_demo_model_answers_the_same_request_the_same_way() -> None:
    demo = DemoProvider()
    large = CompletionRequest("parley-demo-large", QUESTION.messages, QUESTION.max_tokens)

    first, second, other_model = [
        "".join(text_of(await collect(demo, request))) for request in (QUESTION, QUESTION, large)
    ]

    assert first == second
    assert other_model != first
    assert "foxes" in first


# Providers behind HTTP


async def test_openai_receives_the_system_prompt_history_and_parameters(fake_openai: FakeOpenAi) -> None:
    provider = OpenAiProvider(api_key=fake_openai.api_key, base_url=fake_openai.base_url)
    try:
        await collect(provider, CONVERSATION)
    finally:
        await provider.aclose()

    [sent] = fake_openai.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert sent.body["model"] == "test-model"
    assert sent.body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
    ]
    assert sent.body["max_tokens"] == 64
    assert sent.body["temperature"] == 0.3
    assert sent.body["stream"] is True
    assert sent.body["stream_options"] == {"include_usage": True}


async def test_openai_reasoning_models_get_max_completion_tokens(fake_openai: FakeOpenAi) -> None:
    provider = OpenAiProvider(
        api_key=fake_openai.api_key, base_url=fake_openai.base_url, max_tokens_field="max_completion_tokens"
    )
    try:
        await collect(provider, CONVERSATION)
    finally:
        await provider.aclose()

    [sent] = fake_openai.requests
    assert sent.body["max_completion_tokens"] == 64
    assert "max_tokens" not in sent.body


async def test_anthropic_receives_the_system_prompt_apart_and_the_history_in_order(
    fake_anthropic: FakeAnthropic,
) -> None:
    provider = AnthropicProvider(api_key=fake_anthropic.api_key, base_url=fake_anthropic.base_url)
    try:
        await collect(provider, CONVERSATION)
    finally:
        await provider.aclose()

    [sent] = fake_anthropic.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert "anthropic-version" in sent.headers
    assert sent.body["model"] == "test-model"
    assert sent.body["system"] == "You are terse."
    assert sent.body["messages"] == [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Italy?"},
    ]
    assert sent.body["max_tokens"] == 64
    assert sent.body["stream"] is True
    assert "temperature" not in sent.body  # deprecated by Anthropic: current models answer 400 to it


async def test_a_rate_limit_is_retried_by_the_sdk_and_the_reply_then_streams(upstream_harness: Harness) -> None:
    fake = upstream(upstream_harness)
    fake.script(Scenario(status=429))
    reply, usage = upstream_harness.arrange_reply(QUESTION)

    events = await collect(upstream_harness.provider(), QUESTION)

    assert "".join(text_of(events)) == reply
    assert events[-1] == UsageReport(usage)
    assert len(fake.requests) == 2


async def test_openai_a_spent_budget_is_not_retried_but_another_provider_may_answer(fake_openai: FakeOpenAi) -> None:
    """429 `insufficient_quota` (the account's spend limit) does not pass with time, unlike a rate limit."""
    fake_openai.script(Scenario(status=429, error_code="insufficient_quota"))
    provider = OpenAiProvider(api_key=fake_openai.api_key, base_url=fake_openai.base_url)
    try:
        events, error = await collect_until_error(provider, QUESTION)
    finally:
        await provider.aclose()

    assert events == []
    assert len(fake_openai.requests) == 1
    assert error.status == 429
    assert "exceeded your current quota" in str(error)
    assert error.retryable


async def test_a_rate_limit_on_every_attempt_is_a_retryable_error(upstream_harness: Harness) -> None:
    fake = upstream(upstream_harness)
    fake.default = Scenario(status=429)

    events, error = await collect_until_error(upstream_harness.provider(max_retries=2), QUESTION)

    assert events == []
    assert (error.retryable, error.status) == (True, 429)
    assert len(fake.requests) == 3


@pytest.mark.parametrize("status", [500, 503, 529])
async def test_server_errors_are_retryable_after_the_sdk_retries(upstream_harness: Harness, status: int) -> None:
    fake = upstream(upstream_harness)
    fake.default = Scenario(status=status)

    _, error = await collect_until_error(upstream_harness.provider(max_retries=2), QUESTION)

    assert (error.retryable, error.status) == (True, status)
    assert len(fake.requests) == 3


async def test_a_wrong_api_key_is_not_retryable(upstream_harness: Harness) -> None:
    _, error = await collect_until_error(upstream_harness.provider(api_key="sk-wrong"), QUESTION)

    assert (error.retryable, error.status) == (False, 401)
    assert "sk-wrong" not in str(error)
    assert len(upstream(upstream_harness).requests) == 1


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_a_request_the_provider_refuses_is_not_retryable(upstream_harness: Harness, status: int) -> None:
    fake = upstream(upstream_harness)
    fake.script(Scenario(status=status))

    _, error = await collect_until_error(upstream_harness.provider(), QUESTION)

    assert (error.retryable, error.status) == (False, status)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("burst", [False, True], ids=["pieces-apart", "one-burst"])
async def test_an_error_mid_stream_ends_the_reply_after_the_pieces_already_sent(
    upstream_harness: Harness, burst: bool
) -> None:
    """OpenAI sends an `error` object as a data line, Anthropic an `error` event (overloaded_error). In a
    burst, the text before the error arrives in the same read as the error, and is still passed on first."""
    upstream(upstream_harness).script(Scenario(reply=REPLY, fail_after=3, burst=burst))

    events, error = await collect_until_error(upstream_harness.provider(), QUESTION)

    assert "".join(text_of(events)) == "The quick brown "
    assert not any(isinstance(event, UsageReport) for event in events)
    assert error.retryable


async def test_an_unreadable_event_ends_the_reply_with_an_error_after_the_text_before_it(
    upstream_harness: Harness,
) -> None:
    upstream(upstream_harness).script(Scenario(reply=REPLY, garble_after=3, burst=True))

    events, error = await collect_until_error(upstream_harness.provider(), QUESTION)

    assert "".join(text_of(events)) == "The quick brown "
    assert "unreadable" in str(error)
    assert error.retryable


async def test_a_connection_dropped_mid_stream_ends_the_reply_with_an_error(upstream_harness: Harness) -> None:
    upstream(upstream_harness).script(Scenario(reply=REPLY, drop_after=2))

    events, error = await collect_until_error(upstream_harness.provider(), QUESTION)

    assert "".join(text_of(events)) == "The quick "
    assert error.retryable


async def test_a_first_token_slower_than_the_read_timeout_is_a_retryable_error(upstream_harness: Harness) -> None:
    upstream(upstream_harness).script(Scenario(first_token_delay=30))
    provider = upstream_harness.provider(read_timeout=SHORT_READ_TIMEOUT)

    started = time.monotonic()
    events, error = await collect_until_error(provider, QUESTION)

    assert time.monotonic() - started < 2.0
    assert events == []
    assert error.retryable


async def test_response_headers_slower_than_the_read_timeout_are_retried_then_a_retryable_error(
    upstream_harness: Harness,
) -> None:
    fake = upstream(upstream_harness)
    fake.default = Scenario(headers_delay=30)
    provider = upstream_harness.provider(read_timeout=SHORT_READ_TIMEOUT, max_retries=1)

    started = time.monotonic()
    _, error = await collect_until_error(provider, QUESTION)

    assert time.monotonic() - started < 3.0
    assert error.retryable
    assert len(fake.requests) == 2


async def test_consecutive_replies_share_one_connection(upstream_harness: Harness) -> None:
    """The end of each stream is read, so its connection goes back to the pool: no new TCP (and, against
    the real providers, TLS) handshake per message."""
    provider = upstream_harness.provider()

    for _ in range(3):
        await collect(provider, QUESTION)

    clients = {request.client for request in upstream(upstream_harness).requests}
    assert len(clients) == 1


async def test_an_openai_compatible_server_without_the_usage_chunk_gives_no_usage(fake_openai: FakeOpenAi) -> None:
    """The caller then estimates the usage itself."""
    fake_openai.script(Scenario(reply=REPLY, usage=False))
    provider = OpenAiProvider(api_key=fake_openai.api_key, base_url=fake_openai.base_url)
    try:
        events = await collect(provider, QUESTION)
    finally:
        await provider.aclose()

    assert "".join(text_of(events)) == REPLY
    assert not any(isinstance(event, UsageReport) for event in events)


# The fakes speak what the SDKs parse (strict validation: a field of the wrong shape fails)


async def test_the_fake_openai_answers_the_sdk_in_its_own_format(fake_openai: FakeOpenAi) -> None:
    fake_openai.default = Scenario(reply=REPLY, prompt_tokens=7)
    client = openai.AsyncOpenAI(
        api_key=fake_openai.api_key, base_url=fake_openai.base_url, _strict_response_validation=True
    )
    messages: list[Any] = [{"role": "user", "content": "Hi"}]
    try:
        models = await client.models.list()
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        chunks = [
            chunk
            async for chunk in await client.chat.completions.create(
                model="gpt-4o-mini", messages=messages, stream=True, stream_options={"include_usage": True}
            )
        ]
    finally:
        await client.close()

    assert [model.id for model in models.data] == list(fake_openai.models)
    assert completion.choices[0].message.content == REPLY
    assert completion.usage is not None and completion.usage.prompt_tokens == 7
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == REPLY
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 7


async def test_the_fake_anthropic_answers_the_sdk_in_its_own_format(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.default = Scenario(reply=REPLY, prompt_tokens=7)
    client = anthropic.AsyncAnthropic(
        api_key=fake_anthropic.api_key, base_url=fake_anthropic.base_url, _strict_response_validation=True
    )
    try:
        message = await client.messages.create(
            model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
        )
        async with client.messages.stream(
            model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            streamed = await stream.get_final_message()
    finally:
        await client.close()

    for reply in (message, streamed):
        assert [block.text for block in reply.content if block.type == "text"] == [REPLY]
        assert (reply.usage.input_tokens, reply.usage.output_tokens) == (7, len(REPLY.split(" ")))
