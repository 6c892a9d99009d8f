"""The official `openai` and `anthropic` SDKs, sync and async classes, plain and streamed, against a real
`parley serve` whose models are served by the fake OpenAI and Anthropic upstreams (real HTTP servers speaking
the providers' wire formats): tool-calling round trips through /v1/chat/completions and /v1/messages on both
providers (the direct paths and both translations), each round metered; plain chat with the sync clients; and
count_tokens with the sync Anthropic client. One server serves the module; the sync clients run in a worker
thread, exactly as a sync application calls them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import anthropic
import httpx
import openai
import pytest

from domain.conversation.tokens import estimate_tokens
from tests.support.accounts import bearer, verified_api_key
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAi, FakeUpstream, Scenario
from tests.support.server import ServerProcess, running_server

MODELS = {"gpt-4o-mini": "openai", "claude-haiku-4-5": "anthropic"}
"""Each provider's first model, so the free plan may use both."""
ARGUMENTS = {"city": "Paris", "unit": "celsius"}
ASKS_FOR_WEATHER = Scenario(
    reply="", tool_calls=(("get_weather", json.dumps(ARGUMENTS)),), prompt_tokens=20, completion_tokens=7
)
ANSWERS = Scenario(reply="It is sunny in Paris, 21 degrees.", prompt_tokens=31, completion_tokens=9)
QUESTION = "What is the weather in Paris?"
RESULT = '{"sky":"sunny","celsius":21}'
WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    "required": ["city"],
}
WEATHER_OPENAI: Any = {
    "type": "function",
    "function": {"name": "get_weather", "description": "The weather in a city now.", "parameters": WEATHER_PARAMETERS},
}
WEATHER_ANTHROPIC: Any = {
    "name": "get_weather",
    "description": "The weather in a city now.",
    "input_schema": WEATHER_PARAMETERS,
}
OPENAI_CLIENTS = {"sync": openai.OpenAI, "async": openai.AsyncOpenAI}
ANTHROPIC_CLIENTS = {"sync": anthropic.Anthropic, "async": anthropic.AsyncAnthropic}


@pytest.fixture(scope="module")
def gateway_server(
    tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAi, fake_anthropic_server: FakeAnthropic
) -> Iterator[ServerProcess]:
    """Parley with both providers configured, each pointed at its fake."""
    yield from running_server(
        tmp_path_factory.mktemp("sdks"),
        OPENAI_API_KEY=fake_openai_server.api_key,
        OPENAI_BASE_URL=fake_openai_server.base_url,
        PARLEY_OPENAI_MODELS="gpt-4o-mini",
        ANTHROPIC_API_KEY=fake_anthropic_server.api_key,
        ANTHROPIC_BASE_URL=fake_anthropic_server.base_url,
        PARLEY_ANTHROPIC_MODELS="claude-haiku-4-5",
    )


@pytest.fixture(scope="module")
def api_key(gateway_server: ServerProcess) -> str:
    return verified_api_key(gateway_server, "sdks")


@pytest.fixture
def upstreams(fake_openai: FakeOpenAi, fake_anthropic: FakeAnthropic) -> dict[str, FakeUpstream]:
    """Both fakes, script and request log emptied for the test."""
    return {"openai": fake_openai, "anthropic": fake_anthropic}


@dataclass(frozen=True)
class Metered:
    requests: int
    prompt_tokens: int
    completion_tokens: int


def metered(server: ServerProcess, key: str, model: str) -> Metered:
    """What GET /api/usage shows for `model` this period (zeros before its first request)."""
    usage = httpx.get(f"{server.url}/api/usage", headers=bearer(key), timeout=10.0).json()
    rows = [row for row in usage["by_model"] if row["model"] == model]
    if not rows:
        return Metered(0, 0, 0)
    return Metered(rows[0]["requests"], rows[0]["prompt_tokens"], rows[0]["completion_tokens"])


def grown(before: Metered, after: Metered) -> Metered:
    return Metered(
        after.requests - before.requests,
        after.prompt_tokens - before.prompt_tokens,
        after.completion_tokens - before.completion_tokens,
    )


# --- what the upstreams received, each read in its own wire format ------------------------------------------


def tools_offered(provider: str, body: dict[str, Any]) -> list[str]:
    if provider == "openai":
        assert all(tool["type"] == "function" for tool in body["tools"])
        return [tool["function"]["name"] for tool in body["tools"]]
    assert all("input_schema" in tool for tool in body["tools"])
    return [tool["name"] for tool in body["tools"]]


def tool_answer_received(provider: str, body: dict[str, Any]) -> tuple[str, str, str]:
    """(the id of the call in the assistant turn, the id the result answers, the result) as the upstream got
    them: OpenAI's assistant `tool_calls` and a `tool` message; Anthropic's `tool_use` block and a user
    message's `tool_result` block."""
    call, result = body["messages"][-2], body["messages"][-1]
    assert call["role"] == "assistant"
    if provider == "openai":
        [asked] = call["tool_calls"]
        assert asked["type"] == "function" and asked["function"]["name"] == "get_weather"
        assert json.loads(asked["function"]["arguments"]) == ARGUMENTS
        assert result["role"] == "tool"
        return asked["id"], result["tool_call_id"], result["content"]
    [use] = [block for block in call["content"] if block["type"] == "tool_use"]
    assert (use["name"], use["input"]) == ("get_weather", ARGUMENTS)
    assert result["role"] == "user"
    [answer] = [block for block in result["content"] if block["type"] == "tool_result"]
    content = answer["content"]  # a string, or text blocks
    text = content if isinstance(content, str) else "".join(block["text"] for block in content)
    return use["id"], answer["tool_use_id"], text


async def close(sdk: openai.OpenAI | openai.AsyncOpenAI | anthropic.Anthropic | anthropic.AsyncAnthropic) -> None:
    if isinstance(sdk, openai.AsyncOpenAI | anthropic.AsyncAnthropic):
        await sdk.close()
    else:
        sdk.close()


# --- the OpenAI SDK on /v1/chat/completions -----------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """What an OpenAI client makes of one answer, plain or streamed."""

    text: str
    calls: list[tuple[str, str, str]]
    """(id, function name, arguments JSON) of each tool call."""
    argument_pieces: int
    """How many chunks carried a piece of the arguments (0 unstreamed)."""
    finish_reason: str | None
    total_tokens: int | None


def tool_round_trips(clients: dict[str, Any]) -> Any:
    """Parametrize a tool round-trip test over every model (one per upstream), SDK client and streaming."""

    def mark(test: Any) -> Any:
        for name, values, ids in (
            ("stream", [False, True], ["plain", "streamed"]),
            ("client", list(clients), None),
            ("model", list(MODELS), None),
        ):
            test = pytest.mark.parametrize(name, values, ids=ids)(test)
        return test

    return mark


@dataclass
class RoundTrip:
    """A tool round trip through one model's upstream: asked for the weather, then answered with it."""

    server: ServerProcess
    key: str
    model: str
    upstream: FakeUpstream
    before: Metered

    @property
    def provider(self) -> str:
        return MODELS[self.model]

    @classmethod
    def begin(cls, server: ServerProcess, key: str, upstreams: dict[str, FakeUpstream], model: str) -> RoundTrip:
        upstream = upstreams[MODELS[model]]
        upstream.script(ASKS_FOR_WEATHER, ANSWERS)
        return cls(server, key, model, upstream, metered(server, key, model))

    def assert_answered(self, call_id: str) -> None:
        """The upstream got both requests, the second carrying the tool's result; both replies were metered."""
        assert len(self.upstream.requests) == 2
        sent_id, answers_id, result = tool_answer_received(self.provider, self.upstream.requests[1].body)
        assert sent_id == answers_id == call_id and result == RESULT
        assert grown(self.before, metered(self.server, self.key, self.model)) == Metered(2, 20 + 31, 7 + 9)


async def complete(sdk: openai.OpenAI | openai.AsyncOpenAI, stream: bool, **request: Any) -> Completion:
    if not stream:
        if isinstance(sdk, openai.AsyncOpenAI):
            answer = await sdk.chat.completions.create(**request)
        else:
            answer = await asyncio.to_thread(lambda: sdk.chat.completions.create(**request))
        choice = answer.choices[0]
        calls = [
            (c.id, c.function.name, c.function.arguments)
            for c in choice.message.tool_calls or ()
            if c.type == "function"
        ]
        usage = answer.usage.total_tokens if answer.usage else None
        return Completion(choice.message.content or "", calls, 0, choice.finish_reason, usage)

    request = {**request, "stream": True, "stream_options": {"include_usage": True}}
    if isinstance(sdk, openai.AsyncOpenAI):
        chunks = [chunk async for chunk in await sdk.chat.completions.create(**request)]
    else:
        chunks = await asyncio.to_thread(lambda: list(sdk.chat.completions.create(**request)))
    text, pieces, finish = "", 0, None
    streamed: dict[int, list[str]] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for piece in choice.delta.tool_calls or ():
                call = streamed.setdefault(piece.index, ["", "", ""])
                call[0] = piece.id or call[0]
                if piece.function is not None:
                    call[1] = piece.function.name or call[1]
                    call[2] += piece.function.arguments or ""
                    pieces += bool(piece.function.arguments)
    usage = chunks[-1].usage.total_tokens if chunks[-1].usage else None
    return Completion(text, [(c[0], c[1], c[2]) for _, c in sorted(streamed.items())], pieces, finish, usage)


@tool_round_trips(OPENAI_CLIENTS)
async def test_a_tool_round_trip_through_the_openai_sdk(
    gateway_server: ServerProcess,
    api_key: str,
    upstreams: dict[str, FakeUpstream],
    model: str,
    client: str,
    stream: bool,
) -> None:
    trip = RoundTrip.begin(gateway_server, api_key, upstreams, model)
    sdk = OPENAI_CLIENTS[client](base_url=f"{gateway_server.url}/v1", api_key=api_key, max_retries=0)
    question: list[Any] = [{"role": "user", "content": QUESTION}]

    asked = await complete(sdk, stream, model=model, messages=question, tools=[WEATHER_OPENAI])
    [(call_id, name, arguments)] = asked.calls
    assert (name, json.loads(arguments), asked.finish_reason) == ("get_weather", ARGUMENTS, "tool_calls")
    assert call_id and asked.text == "" and asked.total_tokens == 20 + 7
    if stream:
        assert asked.argument_pieces >= 2  # the arguments arrive in pieces, as the upstream streamed them
    assert tools_offered(trip.provider, trip.upstream.requests[0].body) == ["get_weather"]

    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
    }
    answered = [*question, assistant, {"role": "tool", "tool_call_id": call_id, "content": RESULT}]
    reply = await complete(sdk, stream, model=model, messages=answered, tools=[WEATHER_OPENAI])
    await close(sdk)

    assert (reply.text, reply.finish_reason, reply.calls) == (ANSWERS.reply, "stop", [])
    assert reply.total_tokens == 31 + 9
    trip.assert_answered(call_id)


# --- the Anthropic SDK on /v1/messages ----------------------------------------------------------------------


async def message(
    sdk: anthropic.Anthropic | anthropic.AsyncAnthropic, stream: bool, **request: Any
) -> tuple[list[str], anthropic.types.Message]:
    """The JSON pieces of the tool arguments the client saw streamed (none unstreamed), and the message."""
    if isinstance(sdk, anthropic.AsyncAnthropic):
        if not stream:
            return [], await sdk.messages.create(**request)
        async with sdk.messages.stream(**request) as events:
            pieces = [event.partial_json async for event in events if event.type == "input_json"]
            return pieces, await events.get_final_message()

    def call() -> tuple[list[str], anthropic.types.Message]:
        if not stream:
            return [], sdk.messages.create(**request)
        with sdk.messages.stream(**request) as events:
            pieces = [event.partial_json for event in events if event.type == "input_json"]
            return pieces, events.get_final_message()

    return await asyncio.to_thread(call)


@tool_round_trips(ANTHROPIC_CLIENTS)
async def test_a_tool_round_trip_through_the_anthropic_sdk(
    gateway_server: ServerProcess,
    api_key: str,
    upstreams: dict[str, FakeUpstream],
    model: str,
    client: str,
    stream: bool,
) -> None:
    trip = RoundTrip.begin(gateway_server, api_key, upstreams, model)
    sdk = ANTHROPIC_CLIENTS[client](base_url=gateway_server.url, api_key=api_key, max_retries=0)
    question: list[Any] = [{"role": "user", "content": QUESTION}]
    ask = {"model": model, "max_tokens": 300, "tools": [WEATHER_ANTHROPIC]}

    pieces, asked = await message(sdk, stream, messages=question, **ask)
    [use] = [block for block in asked.content if block.type == "tool_use"]
    assert "".join(block.text for block in asked.content if block.type == "text") == ""
    assert (use.name, use.input, asked.stop_reason) == ("get_weather", ARGUMENTS, "tool_use")
    assert use.id and (asked.usage.input_tokens, asked.usage.output_tokens) == (20, 7)
    if stream:
        assert len(pieces) >= 2 and json.loads("".join(pieces)) == ARGUMENTS
    assert tools_offered(trip.provider, trip.upstream.requests[0].body) == ["get_weather"]

    answered = [
        *question,
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": RESULT}]},
    ]
    _, reply = await message(sdk, stream, messages=answered, **ask)
    await close(sdk)

    assert [(block.type, getattr(block, "text", None)) for block in reply.content] == [("text", ANSWERS.reply)]
    assert reply.stop_reason == "end_turn" and (reply.usage.input_tokens, reply.usage.output_tokens) == (31, 9)
    trip.assert_answered(use.id)


# --- plain chat with the sync clients -----------------------------------------------------------------------

GREETING = Scenario(reply="Hello from the upstream, in six pieces.", chunks=6, prompt_tokens=12, completion_tokens=6)
GREETING_PACED = replace(GREETING, piece_gap=0.02)
"""Pieces the upstream sends apart reach the client apart (sent back to back, Parley passes on each network
read's text as one piece)."""


def asking(text: str) -> list[Any]:
    """A one-message prompt. Each call of a test asks something else: the same prompt again would be answered
    from Parley's response cache, and never reach the upstream."""
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize("model", list(MODELS))
def test_the_sync_openai_client_creates_and_streams(
    gateway_server: ServerProcess, api_key: str, upstreams: dict[str, FakeUpstream], model: str
) -> None:
    upstream = upstreams[MODELS[model]]
    upstream.script(GREETING, GREETING_PACED)
    before = metered(gateway_server, api_key, model)
    with openai.OpenAI(base_url=f"{gateway_server.url}/v1", api_key=api_key, max_retries=0) as sdk:
        completion = sdk.chat.completions.create(model=model, messages=asking("Say hello"))
        stream = sdk.chat.completions.create(
            model=model, messages=asking("Say hello, streamed"), stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)

    assert (completion.choices[0].message.content, completion.choices[0].finish_reason) == (GREETING.reply, "stop")
    assert completion.model == model and completion.usage is not None and completion.usage.total_tokens == 18
    texts = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert "".join(texts) == GREETING.reply and len(texts) > 1
    assert [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 18
    assert len(upstream.requests) == 2  # neither answered from the cache
    assert grown(before, metered(gateway_server, api_key, model)) == Metered(2, 24, 12)


@pytest.mark.parametrize("model", list(MODELS))
def test_the_sync_anthropic_client_creates_and_streams(
    gateway_server: ServerProcess, api_key: str, upstreams: dict[str, FakeUpstream], model: str
) -> None:
    upstream = upstreams[MODELS[model]]
    upstream.script(GREETING, GREETING_PACED)
    before = metered(gateway_server, api_key, model)
    with anthropic.Anthropic(base_url=gateway_server.url, api_key=api_key, max_retries=0) as sdk:
        created = sdk.messages.create(model=model, max_tokens=100, messages=asking("Greet me"))
        with sdk.messages.stream(model=model, max_tokens=100, messages=asking("Greet me, streamed")) as events:
            texts = list(events.text_stream)
            streamed = events.get_final_message()

    for answer in (created, streamed):
        assert [(block.type, getattr(block, "text", None)) for block in answer.content] == [("text", GREETING.reply)]
        assert (answer.model, answer.stop_reason) == (model, "end_turn")
        assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 6)
    assert "".join(texts) == GREETING.reply and len(texts) > 1
    assert len(upstream.requests) == 2  # neither answered from the cache
    assert grown(before, metered(gateway_server, api_key, model)) == Metered(2, 24, 12)


def test_the_sync_anthropic_client_counts_tokens_without_calling_a_model(
    gateway_server: ServerProcess, api_key: str, upstreams: dict[str, FakeUpstream]
) -> None:
    system = "You answer in one sentence."
    texts = ["What is the weather in Paris?", "Sunny, 21 degrees.", "And in Lyon tomorrow?"]
    messages: list[Any] = [
        {"role": role, "content": text} for role, text in zip(["user", "assistant", "user"], texts, strict=True)
    ]
    before = httpx.get(f"{gateway_server.url}/api/usage", headers=bearer(api_key), timeout=10.0).json()["used"]
    with anthropic.Anthropic(base_url=gateway_server.url, api_key=api_key, max_retries=0) as sdk:
        counted = sdk.messages.count_tokens(model="claude-haiku-4-5", system=system, messages=messages)
        with pytest.raises(anthropic.NotFoundError):
            sdk.messages.count_tokens(model="no-such-model", messages=messages)

    # the documented estimate: ceil(characters / 4) plus 4 for each message and for the system prompt
    assert counted.input_tokens == sum(estimate_tokens(text) + 4 for text in [system, *texts])
    assert upstreams["anthropic"].requests == [] and upstreams["openai"].requests == []
    after = httpx.get(f"{gateway_server.url}/api/usage", headers=bearer(api_key), timeout=10.0).json()["used"]
    assert after == before
