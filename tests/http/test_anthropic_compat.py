"""/v1/messages through the official `anthropic` SDK (async), in-process: the Messages API's wire format (plain
and streamed), count_tokens, Anthropic-shaped errors, and the same accounting as /api/chat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import pytest
from anthropic.types import MessageParam

from adapters.memory.llm import Script, ScriptedProvider
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.model import Usage
from tests.support.app import anthropic_sdk, app_client, bearer, memory_container, verified_user_token

ALL = frozenset({"free", "plus", "pro"})


@dataclass
class Gateway:
    sdk: anthropic.AsyncAnthropic
    """The SDK on an API key (which it sends as `Authorization: Bearer`)."""
    key: str
    provider: ScriptedProvider
    api: httpx.AsyncClient
    """Plain HTTP to the same app, for /api reads."""
    headers: dict[str, str]
    """The user's access token, for /api."""

    async def stored_conversations(self) -> list[Any]:
        response = await self.api.get("/api/conversations", headers=self.headers)
        assert response.status_code == 200
        items: list[Any] = response.json()["items"]
        return items


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    provider = ScriptedProvider("scripted")
    catalogue = ModelCatalogue(
        [
            ModelSpec("m", (RouteStep("scripted", "up"),), 8192, ALL),
            ModelSpec("big", (RouteStep("scripted", "up"),), 8192, frozenset({"pro"})),
        ]
    )
    container = memory_container(tmp_path, providers={"scripted": provider}, catalogue=catalogue)
    async with app_client(container) as client:
        token = await verified_user_token(container, "ada@example.com")
        created = await client.post("/api/keys", json={"name": "sdk"}, headers=bearer(token))
        key = created.json()["key"]
        async with anthropic_sdk(client, api_key=key) as sdk:
            yield Gateway(sdk, key, provider, client, bearer(token))


async def test_a_message_in_anthropic_format(gateway: Gateway) -> None:
    gateway.provider.then(Script(pieces=("Bonjour", " !"), usage=Usage(9, 3)))

    message = await gateway.sdk.messages.create(
        model="m",
        max_tokens=50,
        system="Answer in French.",
        messages=[
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": [{"type": "text", "text": "Salut"}]},
            {"role": "user", "content": [{"type": "text", "text": "Again"}]},
        ],
        extra_body={"temperature": 0.5},  # sampling parameters the SDK no longer types, still on the wire
    )

    assert message.id.startswith("msg_") and (message.type, message.role, message.model) == (
        "message",
        "assistant",
        "m",
    )
    assert [(block.type, block.text) for block in message.content if block.type == "text"] == [("text", "Bonjour !")]
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 3)
    sent = gateway.provider.requests[-1]
    assert [(t.role.value, t.content) for t in sent.messages] == [
        ("system", "Answer in French."),
        ("user", "Hello"),
        ("assistant", "Salut"),
        ("user", "Again"),
    ]
    assert (sent.max_tokens, sent.temperature) == (50, 0.5)
    [stored] = await gateway.stored_conversations()  # stored like any chat, titled from the last user message
    assert stored["title"] == "Again"


async def test_a_stream_of_anthropic_events_with_the_final_usage(gateway: Gateway) -> None:
    gateway.provider.then(Script(pieces=("one ", "two ", "three"), usage=Usage(4, 3)))

    async with gateway.sdk.messages.stream(
        model="m", max_tokens=100, messages=[{"role": "user", "content": "count"}]
    ) as stream:
        events = [event.type async for event in stream]
        final = await stream.get_final_message()

    assert events[0] == "message_start" and events.count("text") == 3
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert [block.text for block in final.content if block.type == "text"] == ["one two three"]
    assert final.stop_reason == "end_turn" and final.id.startswith("msg_")
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 3)
    usage = (await gateway.api.get("/api/usage", headers=gateway.headers)).json()
    assert [(m["requests"], m["prompt_tokens"], m["completion_tokens"]) for m in usage["by_model"]] == [(1, 4, 3)]


async def test_the_raw_stream_is_anthropics_event_sequence(gateway: Gateway) -> None:
    gateway.provider.then(Script(pieces=("a", "b"), usage=Usage(2, 2)))

    response = await gateway.api.post(
        "/v1/messages",
        json={"model": "m", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": gateway.key, "anthropic-version": "2023-06-01"},
    )

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    names = [block.split("\n", 1)[0] for block in response.text.strip().split("\n\n")]
    assert names == [
        "event: message_start",
        "event: content_block_start",
        "event: ping",
        "event: content_block_delta",
        "event: content_block_delta",
        "event: content_block_stop",
        "event: message_delta",
        "event: message_stop",
    ]


async def test_count_tokens_is_the_quota_estimate_and_costs_nothing(gateway: Gateway) -> None:
    counted = await gateway.sdk.messages.count_tokens(
        model="m",
        system="Be brief.",  # 9 characters: 3 tokens
        messages=[
            {"role": "user", "content": "Hello there"},  # 11: 3
            {"role": "assistant", "content": "Hi"},  # 2: 1
            {"role": "user", "content": "How are you?"},  # 12: 3
        ],
    )

    assert counted.input_tokens == (3 + 3 + 1 + 3) + 4 * 4  # each message also costs 4 (as the quota counts)
    assert gateway.provider.requests == []
    usage = (await gateway.api.get("/api/usage", headers=gateway.headers)).json()
    assert usage["used"] == 0 and usage["by_model"] == []
    assert await gateway.stored_conversations() == []
    with pytest.raises(anthropic.NotFoundError):
        await gateway.sdk.messages.count_tokens(model="nope", messages=[{"role": "user", "content": "x"}])


async def test_a_reply_cut_by_max_tokens_stops_for_max_tokens(tmp_path: Path) -> None:
    """The offline demo model (one word a token), plain and streamed; a reply the model finished is end_turn."""
    container = memory_container(tmp_path, settings={"demo_delay_ms": 0})
    async with app_client(container) as client:
        token = await verified_user_token(container, "ada@example.com")
        async with anthropic_sdk(client, auth_token=token) as sdk:
            story: list[MessageParam] = [{"role": "user", "content": "Tell me a long story"}]

            cut = await sdk.messages.create(model="parley-demo", max_tokens=3, messages=story)
            async with sdk.messages.stream(model="parley-demo", max_tokens=3, messages=story) as stream:
                streamed = await stream.get_final_message()
            whole = await sdk.messages.create(
                model="parley-demo", max_tokens=500, messages=[{"role": "user", "content": "Hi"}]
            )

    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3
    assert streamed.stop_reason == "max_tokens" and streamed.usage.output_tokens == 3
    assert whole.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 10**9, "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 10, "messages": []}, "messages"),
        ({"model": "m", "max_tokens": 10, "messages": [{"role": "assistant", "content": "x"}]}, "messages"),
        (
            {
                "model": "m",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            },
            "messages",
        ),
        (
            {
                "model": "m",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
            },
            "messages",
        ),
        ({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "a\u0000b"}]}, "messages"),
        ({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "  "}]}, "messages"),
        (
            {"model": "m", "max_tokens": 10, "system": "a\u0000b", "messages": [{"role": "user", "content": "x"}]},
            "system",
        ),
        (
            {
                "model": "m",
                "max_tokens": 10,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is this?"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}},
                        ],
                    }
                ],
            },
            "messages",
        ),
        (
            {"model": "m", "max_tokens": 10, "temperature": 1.5, "messages": [{"role": "user", "content": "x"}]},
            "temperature",
        ),
        ({"model": "m", "max_tokens": 10, "top_k": 5, "messages": [{"role": "user", "content": "x"}]}, "top_k"),
        ({"model": "m", "max_tokens": 10, "top_p": 0.5, "messages": [{"role": "user", "content": "x"}]}, "top_p"),
        (
            {"model": "m", "max_tokens": 10, "stop_sequences": ["\n"], "messages": [{"role": "user", "content": "x"}]},
            "stop_sequences",
        ),
        (
            {
                "model": "m",
                "max_tokens": 10,
                "tools": [{"name": "now", "input_schema": {"type": "object"}}],
                "messages": [{"role": "user", "content": "x"}],
            },
            "tools",
        ),
        (
            {
                "model": "m",
                "max_tokens": 10,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "messages": [{"role": "user", "content": "x"}],
            },
            "thinking",
        ),
        (
            {
                "model": "m",
                "max_tokens": 10,
                "output_config": {"effort": "low"},
                "messages": [{"role": "user", "content": "x"}],
            },
            "output_config",
        ),
        ({"model": "m", "max_tokens": 10, "speed": "fast", "messages": [{"role": "user", "content": "x"}]}, "speed"),
        (
            {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x", "name": "ada"}]},
            "messages.0.name",
        ),
        (
            {"model": "m", "max_tokens": 10, "stream_it": True, "messages": [{"role": "user", "content": "x"}]},
            "stream_it",
        ),
    ],
)
async def test_bad_input_is_a_400_invalid_request_error_naming_it_and_changes_nothing(
    gateway: Gateway, body: dict[str, Any], names: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        await gateway.sdk.post("/v1/messages", cast_to=httpx2.Response, body=body)

    error = refused.value.body
    assert isinstance(error, dict) and error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error" and error["error"]["message"].startswith(names)
    assert gateway.provider.requests == []
    assert await gateway.stored_conversations() == []


async def test_parameters_at_their_defaults_are_accepted(gateway: Gateway) -> None:
    message = await gateway.sdk.messages.create(
        model="m",
        max_tokens=10,
        messages=[{"role": "user", "content": "x"}],
        stop_sequences=[],
        tools=[],
        thinking={"type": "disabled"},
        metadata={"user_id": "u-1"},
        service_tier="auto",
        speed="standard",
        cache_control={"type": "ephemeral"},
        extra_body={"top_p": 1},
    )
    assert message.content


async def test_an_api_key_in_x_api_key_and_a_bad_key_is_401_authentication_error(gateway: Gateway) -> None:
    in_header = gateway.sdk.with_options(api_key=None, default_headers={"x-api-key": gateway.key})
    message = await in_header.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert message.content

    for bad in (
        gateway.sdk.with_options(api_key="prl_not-a-key"),
        gateway.sdk.with_options(api_key=None, default_headers={"x-api-key": "prl_not-a-key"}),
    ):
        with pytest.raises(anthropic.AuthenticationError) as unauthenticated:
            await bad.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])
        body = unauthenticated.value.body
        assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == "authentication_error"
        assert unauthenticated.value.api_message
    nothing = await gateway.api.post(
        "/v1/messages", json={"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    )
    assert nothing.status_code == 401 and nothing.json()["error"]["type"] == "authentication_error"


async def test_x_api_key_is_only_read_on_the_messages_routes(gateway: Gateway) -> None:
    chat = await gateway.api.post(
        "/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": gateway.key},
    )
    assert chat.status_code == 401 and "error" in chat.json() and "type" not in chat.json()  # OpenAI's body


async def test_models_off_the_plan_and_unknown_ones(gateway: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as unknown:
        await gateway.sdk.messages.create(model="nope", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert (unknown.value.type, unknown.value.api_message) == ("not_found_error", "model: nope")
    assert unknown.value.error_code == "model-not-found"
    with pytest.raises(anthropic.PermissionDeniedError) as gated:
        await gateway.sdk.messages.create(model="big", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert (gated.value.type, gated.value.error_code) == ("permission_error", "model-not-allowed")


async def test_quota_exhaustion_is_402_billing_error_and_usage_is_metered_once(gateway: Gateway) -> None:
    gateway.provider.then(Script(pieces=("expensive",), usage=Usage(5_000, 5_000)))
    await gateway.sdk.messages.create(model="m", max_tokens=100, messages=[{"role": "user", "content": "x"}])

    usage = (await gateway.api.get("/api/usage", headers=gateway.headers)).json()
    assert usage["used"] == 10_000
    assert [(m["requests"], m["prompt_tokens"], m["completion_tokens"]) for m in usage["by_model"]] == [
        (1, 5_000, 5_000)
    ]
    retrying = gateway.sdk.with_options(max_retries=2)  # the SDK does not retry a 402: one request reaches Parley
    with pytest.raises(anthropic.PaymentRequiredError) as exhausted:
        await retrying.messages.create(model="m", max_tokens=100, messages=[{"role": "user", "content": "y"}])
    assert (exhausted.value.type, exhausted.value.error_code) == ("billing_error", "quota-exceeded")
    assert len(gateway.provider.requests) == 1
    assert len(await gateway.stored_conversations()) == 1


async def test_a_provider_failing_mid_stream_ends_with_an_error_event(gateway: Gateway) -> None:
    gateway.provider.then(Script(pieces=("half ", "way"), fail_after=1), Script(pieces=("never",)))

    with pytest.raises(anthropic.APIStatusError) as failed:
        async with gateway.sdk.messages.stream(
            model="m", max_tokens=100, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            async for _ in stream:
                pass

    assert isinstance(failed.value.body, dict) and failed.value.body["error"]["type"] == "overloaded_error"


async def test_every_failover_down_is_529_overloaded(gateway: Gateway) -> None:
    gateway.provider.then(Script(pieces=("x",), fail_after=0))

    with pytest.raises(anthropic.APIStatusError) as down:
        await gateway.sdk.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])

    assert down.value.status_code == 529 and down.value.type == "overloaded_error"


async def test_unknown_paths_and_methods_under_messages_answer_anthropic_errors(gateway: Gateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as unknown:
        await gateway.sdk.messages.batches.list()
    assert unknown.value.type == "not_found_error"
    assert "GET /v1/messages/batches" in unknown.value.message
    wrong_method = await gateway.api.get("/v1/messages", headers={"x-api-key": gateway.key})
    assert wrong_method.status_code == 405 and wrong_method.json()["type"] == "error"
    malformed = await gateway.api.post(
        "/v1/messages", content=b"{not json", headers={"x-api-key": gateway.key, "content-type": "application/json"}
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["type"] == "invalid_request_error"
    elsewhere = await gateway.api.post("/v1/responses", json={}, headers={"x-api-key": gateway.key})
    assert elsewhere.status_code == 404 and elsewhere.json()["error"]["code"] == "unknown_url"  # OpenAI's body


async def test_a_body_over_the_cap_is_413_request_too_large(gateway: Gateway) -> None:
    huge = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "x" * (1 << 20)}]}

    with pytest.raises(anthropic.APIStatusError) as refused:
        await gateway.sdk.messages.create(**huge)  # type: ignore[arg-type]

    assert (refused.value.status_code, refused.value.type) == (413, "request_too_large")
    assert await gateway.stored_conversations() == []


async def test_an_unverified_users_key_is_403_permission_error(tmp_path: Path) -> None:
    container = memory_container(tmp_path, settings={"demo_delay_ms": 0})
    async with app_client(container) as client:
        token = await verified_user_token(container, "ada@example.com", verified=False)
        key = (await client.post("/api/keys", json={"name": "sdk"}, headers=bearer(token))).json()["key"]
        async with anthropic_sdk(client, api_key=key) as sdk:
            with pytest.raises(anthropic.PermissionDeniedError) as refused:
                await sdk.messages.create(
                    model="parley-demo", max_tokens=10, messages=[{"role": "user", "content": "x"}]
                )
            counted = await sdk.messages.count_tokens(model="parley-demo", messages=[{"role": "user", "content": "x"}])

    assert (refused.value.type, refused.value.error_code) == ("permission_error", "email-not-verified")
    assert counted.input_tokens == 1 + 4  # counting is a read: no verified email needed
