"""Tools, formats and images through the gateway: the real `openai` and `anthropic` SDKs on /v1/chat/completions
and /v1/messages, Parley's real OpenAI and Anthropic adapters behind them, against the fake upstreams (which
speak the providers' wire formats). The default catalogue: gpt-4o-mini (reads images) and o3-mini (does not)
on the fake OpenAI, claude-sonnet-4-5 (reads images) on the fake Anthropic, and the demo model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest

from entrypoints.http.app import create_app
from tests.support.app import bearer, memory_container, verified_user_token
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAi, FakeUpstream, Scenario

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
WEATHER_ANTHROPIC = {
    "name": "get_weather",
    "description": "The weather in a city now.",
    "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
}
ASKS_FOR_WEATHER = Scenario(
    reply="", tool_calls=(("get_weather", '{"city":"Paris"}'),), prompt_tokens=20, completion_tokens=7
)
ANSWERS = Scenario(reply="It is sunny in Paris.", prompt_tokens=30, completion_tokens=6)
RESULT = '{"sky":"sunny","celsius":21}'
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
MODELS = {"gpt-4o-mini": "openai", "claude-sonnet-4-5": "anthropic"}


@dataclass
class Gateway:
    openai: openai.AsyncOpenAI
    anthropic: anthropic.AsyncAnthropic
    api: httpx.AsyncClient
    headers: dict[str, str]
    upstreams: dict[str, FakeUpstream]

    def upstream(self, model: str) -> FakeUpstream:
        return self.upstreams[MODELS[model]]

    async def usage_of(self, model: str) -> tuple[int, int, int]:
        usage = (await self.api.get("/api/usage", headers=self.headers)).json()
        [row] = [
            (m["requests"], m["prompt_tokens"], m["completion_tokens"])
            for m in usage["by_model"]
            if m["model"] == model
        ]
        return row


@pytest.fixture
async def gateway(tmp_path: Path, fake_openai: FakeOpenAi, fake_anthropic: FakeAnthropic) -> AsyncIterator[Gateway]:
    settings = {
        "demo_delay_ms": 0,
        "openai_api_key": fake_openai.api_key,
        "openai_base_url": fake_openai.base_url,
        "openai_models": ["gpt-4o-mini", "o3-mini"],
        "anthropic_api_key": fake_anthropic.api_key,
        "anthropic_base_url": fake_anthropic.base_url,
        "anthropic_models": ["claude-sonnet-4-5"],
    }
    container = memory_container(tmp_path, settings=settings)
    # Both SDKs and the app on the test's loop (the adapters' connections live on the loop that opened them).
    app = create_app(container)
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://testserver") as http2,
        ):
            token = await verified_user_token(container, "ada@example.com", plan="pro")
            key = (await client.post("/api/keys", json={"name": "sdk"}, headers=bearer(token))).json()["key"]
            sdk = openai.AsyncOpenAI(base_url="http://testserver/v1", api_key=key, http_client=client, max_retries=0)
            messages_sdk = anthropic.AsyncAnthropic(
                base_url="http://testserver", api_key=key, http_client=http2, max_retries=0
            )
            upstreams: dict[str, FakeUpstream] = {"openai": fake_openai, "anthropic": fake_anthropic}
            yield Gateway(sdk, messages_sdk, client, bearer(token), upstreams)
    finally:
        await container.background.drain()
        await container.aclose()


def _tools_sent(model: str, body: dict[str, Any]) -> list[str]:
    """The names of the tools the upstream was offered, read in its own format."""
    if MODELS[model] == "openai":
        return [tool["function"]["name"] for tool in body["tools"]]
    assert all("input_schema" in tool for tool in body["tools"])
    return [tool["name"] for tool in body["tools"]]


def _tool_result_sent(model: str, body: dict[str, Any]) -> tuple[str, str, Any]:
    """(the call's id in the assistant turn, the id the result answers, the result), in the upstream's format."""
    call, result = body["messages"][-2], body["messages"][-1]
    if MODELS[model] == "openai":
        assert call["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
        return call["tool_calls"][0]["id"], result["tool_call_id"], result["content"]
    [use] = [block for block in call["content"] if block["type"] == "tool_use"]
    assert (use["name"], use["input"]) == ("get_weather", {"city": "Paris"})
    [answer] = result["content"]
    return use["id"], answer["tool_use_id"], answer["content"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", list(MODELS))
async def test_a_tool_round_trip_on_chat_completions(gateway: Gateway, model: str, stream: bool) -> None:
    upstream = gateway.upstream(model)
    upstream.script(ASKS_FOR_WEATHER, ANSWERS)
    question: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]

    if stream:
        chunks = [
            c
            async for c in await gateway.openai.chat.completions.create(
                model=model,
                messages=question,
                tools=[WEATHER],
                stream=True,  # type: ignore[list-item]
            )
        ]
        pieces = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or ()]
        assert {p.index for p in pieces} == {0} and len(pieces) >= 3  # the head, then the arguments in pieces
        assert pieces[0].id and pieces[0].function and pieces[0].function.name == "get_weather"
        call_id, arguments = pieces[0].id, "".join((p.function.arguments or "") for p in pieces if p.function)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        completion = await gateway.openai.chat.completions.create(model=model, messages=question, tools=[WEATHER])  # type: ignore[list-item]
        [call] = completion.choices[0].message.tool_calls or []
        assert call.type == "function" and call.function.name == "get_weather"
        call_id, arguments, finish = call.id, call.function.arguments, completion.choices[0].finish_reason
    assert json.loads(arguments) == {"city": "Paris"} and finish == "tool_calls"
    assert _tools_sent(model, upstream.requests[0].body) == ["get_weather"]

    assistant = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
        ],
    }
    answered = [*question, assistant, {"role": "tool", "tool_call_id": call_id, "content": RESULT}]
    if stream:
        text = "".join(
            [
                c.choices[0].delta.content or ""
                async for c in await gateway.openai.chat.completions.create(
                    model=model,
                    messages=answered,
                    tools=[WEATHER],
                    stream=True,  # type: ignore[list-item]
                )
                if c.choices
            ]
        )
    else:
        reply = await gateway.openai.chat.completions.create(model=model, messages=answered, tools=[WEATHER])  # type: ignore[list-item]
        assert reply.choices[0].finish_reason == "stop"
        text = reply.choices[0].message.content or ""

    assert text == "It is sunny in Paris."
    sent_id, answers_id, result = _tool_result_sent(model, upstream.requests[1].body)
    assert sent_id == answers_id == call_id and result == RESULT
    assert await gateway.usage_of(model) == (2, 20 + 30, 7 + 6)  # both rounds, as the provider counted them


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", list(MODELS))
async def test_a_tool_round_trip_on_messages(gateway: Gateway, model: str, stream: bool) -> None:
    upstream = gateway.upstream(model)
    upstream.script(ASKS_FOR_WEATHER, ANSWERS)
    question: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    ask: dict[str, Any] = {"model": model, "max_tokens": 200, "tools": [WEATHER_ANTHROPIC]}

    if stream:
        async with gateway.anthropic.messages.stream(messages=question, **ask) as events:
            kinds = [event.type async for event in events]
            asked = await events.get_final_message()
        assert "input_json" in kinds
    else:
        asked = await gateway.anthropic.messages.create(messages=question, **ask)
    [use] = [block for block in asked.content if block.type == "tool_use"]
    assert (use.name, use.input, asked.stop_reason) == ("get_weather", {"city": "Paris"}, "tool_use")
    assert _tools_sent(model, upstream.requests[0].body) == ["get_weather"]

    answered = [
        *question,
        {"role": "assistant", "content": [{"type": "tool_use", "id": use.id, "name": use.name, "input": use.input}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": RESULT}]},
    ]
    if stream:
        async with gateway.anthropic.messages.stream(messages=answered, **ask) as events:
            reply = await events.get_final_message()
    else:
        reply = await gateway.anthropic.messages.create(messages=answered, **ask)

    assert [b.text for b in reply.content if b.type == "text"] == ["It is sunny in Paris."]
    assert reply.stop_reason == "end_turn"
    sent_id, answers_id, result = _tool_result_sent(model, upstream.requests[1].body)
    assert sent_id == answers_id == use.id and result == RESULT
    assert await gateway.usage_of(model) == (2, 50, 13)


async def test_a_json_schema_format_stop_seed_and_sampling_reach_openai(
    gateway: Gateway, fake_openai: FakeOpenAi
) -> None:
    schema = {"name": "city", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}, "strict": True}
    fake_openai.script(Scenario(reply='{"name":"Paris"}'))

    completion = await gateway.openai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Name a city."}],
        response_format={"type": "json_schema", "json_schema": schema},  # type: ignore[typeddict-item]
        stop=["END"],
        seed=7,
        top_p=0.5,
        presence_penalty=0.25,
        frequency_penalty=0.5,
        logit_bias={"50256": -100},
        user="end-user-1",
    )

    assert completion.choices[0].message.content == '{"name":"Paris"}'
    body = fake_openai.requests[-1].body
    assert body["response_format"] == {"type": "json_schema", "json_schema": schema}
    assert (body["stop"], body["seed"], body["top_p"], body["user"]) == (["END"], 7, 0.5, "end-user-1")
    assert (body["presence_penalty"], body["frequency_penalty"], body["logit_bias"]) == (0.25, 0.5, {"50256": -100})


async def test_stop_reaches_anthropic_as_stop_sequences_and_what_it_has_no_parameter_for_is_refused(
    gateway: Gateway, fake_anthropic: FakeAnthropic
) -> None:
    question: list[Any] = [{"role": "user", "content": "Count."}]
    await gateway.openai.chat.completions.create(model="claude-sonnet-4-5", messages=question, stop="5", top_p=0.9)
    assert (fake_anthropic.requests[-1].body["stop_sequences"], fake_anthropic.requests[-1].body["top_p"]) == (
        ["5"],
        0.9,
    )
    await gateway.anthropic.messages.create(
        model="claude-sonnet-4-5", max_tokens=50, messages=question, stop_sequences=["7"]
    )
    assert fake_anthropic.requests[-1].body["stop_sequences"] == ["7"]
    sent = len(fake_anthropic.requests)

    for param, value in (("seed", 7), ("response_format", {"type": "json_object"}), ("logit_bias", {"1": 1})):
        with pytest.raises(openai.BadRequestError) as refused:
            await gateway.openai.chat.completions.create(model="claude-sonnet-4-5", messages=question, **{param: value})  # type: ignore[call-overload]
        assert refused.value.param == param
    assert len(fake_anthropic.requests) == sent


async def test_stop_sequences_and_tools_on_messages_reach_openai_in_its_words(
    gateway: Gateway, fake_openai: FakeOpenAi
) -> None:
    await gateway.anthropic.messages.create(
        model="gpt-4o-mini",
        max_tokens=50,
        messages=[{"role": "user", "content": "Weather?"}],
        stop_sequences=["END"],
        tools=[WEATHER_ANTHROPIC],  # type: ignore[list-item]
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    body = fake_openai.requests[-1].body
    assert body["stop"] == ["END"] and body["tools"] == [WEATHER]
    assert (body["tool_choice"], body["parallel_tool_calls"]) == ("required", False)


async def test_images_reach_vision_models_in_their_providers_format(
    gateway: Gateway, fake_openai: FakeOpenAi, fake_anthropic: FakeAnthropic
) -> None:
    data_url = f"data:image/png;base64,{PIXEL}"
    parts: list[Any] = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]

    await gateway.openai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": parts}])
    await gateway.openai.chat.completions.create(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": parts}]
    )
    block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    await gateway.anthropic.messages.create(
        model="gpt-4o-mini",
        max_tokens=50,
        messages=[{"role": "user", "content": [block, {"type": "text", "text": "And this?"}]}],  # type: ignore[list-item]
    )

    to_openai = fake_openai.requests[0].body["messages"][-1]["content"]
    assert to_openai == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]
    to_anthropic = fake_anthropic.requests[0].body["messages"][-1]["content"]
    assert to_anthropic == [block, {"type": "text", "text": "What is this?"}]
    from_messages = fake_openai.requests[1].body["messages"][-1]["content"]
    assert from_messages == [
        {"type": "text", "text": "And this?"},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]


@pytest.mark.parametrize("model", ["o3-mini", "parley-demo"])
async def test_an_image_to_a_model_that_reads_none_is_refused_naming_messages(
    gateway: Gateway, fake_openai: FakeOpenAi, model: str
) -> None:
    parts: list[Any] = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]

    with pytest.raises(openai.BadRequestError) as refused:
        await gateway.openai.chat.completions.create(model=model, messages=[{"role": "user", "content": parts}])
    block = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    with pytest.raises(anthropic.BadRequestError) as refused_too:
        await gateway.anthropic.messages.create(
            model=model, max_tokens=10, messages=[{"role": "user", "content": [block]}]
        )  # type: ignore[list-item]

    assert refused.value.param == "messages" and "does not accept images" in refused.value.message
    assert refused_too.value.api_message.startswith("messages")
    assert fake_openai.requests == []


async def test_the_demo_model_refuses_tools_naming_them(gateway: Gateway) -> None:
    question: list[Any] = [{"role": "user", "content": "Weather?"}]
    with pytest.raises(openai.BadRequestError) as refused:
        await gateway.openai.chat.completions.create(model="parley-demo", messages=question, tools=[WEATHER])  # type: ignore[list-item]
    assert refused.value.param == "tools"
    with pytest.raises(anthropic.BadRequestError) as refused_too:
        await gateway.anthropic.messages.create(
            model="parley-demo", max_tokens=10, messages=question, stop_sequences=["x"]
        )
    assert refused_too.value.api_message.startswith("stop_sequences")
    usage = (await gateway.api.get("/api/usage", headers=gateway.headers)).json()
    assert usage["by_model"] == []
    plain = await gateway.openai.chat.completions.create(model="parley-demo", messages=question, user="end-user-1")
    assert plain.choices[0].message.content  # `user` is advisory: never a reason to refuse


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("model", list(MODELS))
async def test_a_reply_stopped_by_the_providers_safety_system_says_so_on_both_routes(
    gateway: Gateway, model: str, stream: bool
) -> None:
    """OpenAI's `content_filter` and Anthropic's `refusal` are the same end: each route says it in its own
    words, whichever provider stopped the reply; /api/chat's `done` keeps to its two reasons (`stop`)."""
    filtered = Scenario(reply="I can only say this much", filtered=True, prompt_tokens=9, completion_tokens=6)
    question = [{"role": "user", "content": f"Something the filter stops ({stream})"}]
    gateway.upstream(model).script(filtered, filtered, filtered)
    if stream:
        chunks = [
            c async for c in await gateway.openai.chat.completions.create(model=model, messages=question, stream=True)
        ]
        reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        async with gateway.anthropic.messages.stream(model=model, max_tokens=64, messages=question) as events:
            stop_reason = (await events.get_final_message()).stop_reason
    else:
        completion = await gateway.openai.chat.completions.create(model=model, messages=question)
        reasons, text = [completion.choices[0].finish_reason], completion.choices[0].message.content
        stop_reason = (
            await gateway.anthropic.messages.create(model=model, max_tokens=64, messages=question)
        ).stop_reason
    assert (reasons, text) == (["content_filter"], "I can only say this much")
    assert stop_reason == "refusal"

    chat = await gateway.api.post(
        "/api/chat",
        json={"model": model, "content": f"Filtered again ({stream})", "stream": True},
        headers=gateway.headers,
    )
    done = [line for line in chat.text.split("\n\n") if "event: done" in line]
    assert len(done) == 1 and '"finish_reason":"stop"' in done[0]
