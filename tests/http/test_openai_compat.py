"""/v1 through the official `openai` SDK (async), in-process: the wire format, streaming with usage, and
OpenAI-shaped errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import openai
import pytest

from adapters.memory.llm import Script, ScriptedProvider
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.model import Usage
from tests.support.app import app_client, bearer, memory_container, verified_user_token

ALL = frozenset({"free", "plus", "pro"})


@pytest.fixture
async def sdk(tmp_path: Path) -> AsyncIterator[tuple[openai.AsyncOpenAI, ScriptedProvider]]:
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
        yield (
            openai.AsyncOpenAI(
                base_url=str(client.base_url.join("/v1")), api_key=key, http_client=client, max_retries=0
            ),
            provider,
        )


async def test_a_completion_in_openai_format(sdk: tuple[openai.AsyncOpenAI, ScriptedProvider]) -> None:
    client, provider = sdk
    provider.then(Script(pieces=("Bonjour", " !"), usage=Usage(9, 3)))
    completion = await client.chat.completions.create(
        model="m",
        messages=[
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Salut"},
            {"role": "user", "content": "Again"},
        ],
        max_tokens=50,
    )
    assert completion.id.startswith("chatcmpl-") and completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Bonjour !"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        9,
        3,
    )
    sent = provider.requests[-1]
    assert [(t.role.value, t.content) for t in sent.messages] == [
        ("system", "Answer in French."),
        ("user", "Hello"),
        ("assistant", "Salut"),
        ("user", "Again"),
    ]
    assert sent.max_tokens == 50


async def test_a_stream_with_usage(sdk: tuple[openai.AsyncOpenAI, ScriptedProvider]) -> None:
    client, provider = sdk
    provider.then(Script(pieces=("one ", "two ", "three"), usage=Usage(4, 3)))
    stream = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "count"}], stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 7
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


async def test_errors_have_openai_shapes(sdk: tuple[openai.AsyncOpenAI, ScriptedProvider]) -> None:
    client, _ = sdk
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.PermissionDeniedError) as gated:
        await client.chat.completions.create(model="big", messages=[{"role": "user", "content": "x"}])
    assert gated.value.code == "model-not-allowed"
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="m", messages=[])
    with pytest.raises(openai.BadRequestError) as last_not_user:  # Parley's own check, as OpenAI answers it
        await client.chat.completions.create(model="m", messages=[{"role": "assistant", "content": "x"}])
    assert last_not_user.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as too_long:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], max_tokens=10**9)
    assert too_long.value.param == "max_tokens"
    bad_key = client.with_options(api_key="prl_not-a-key")
    with pytest.raises(openai.AuthenticationError):
        await bad_key.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    models = await client.models.list()
    assert [m.id for m in models.data] == ["m"]


async def test_quota_exhaustion_is_429_insufficient_quota(sdk: tuple[openai.AsyncOpenAI, ScriptedProvider]) -> None:
    client, provider = sdk
    provider.then(Script(pieces=("expensive",), usage=Usage(5_000, 5_000)))
    await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as exhausted:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "y"}])
    assert exhausted.value.body is not None and exhausted.value.code == "insufficient_quota"
    assert exhausted.value.response.json()["error"]["type"] == "insufficient_quota"


async def test_unknown_paths_and_methods_answer_openai_errors_the_sdk_shows(
    sdk: tuple[openai.AsyncOpenAI, ScriptedProvider],
) -> None:
    client, _ = sdk
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.post("/responses", cast_to=httpx.Response, body={"model": "m", "input": "hi"})
    assert unknown.value.code == "unknown_url"
    assert "Unknown request URL: POST /v1/responses" in str(unknown.value)  # not a bare "Error code: 404"
    with pytest.raises(openai.NotFoundError) as anything:
        await client.get("/anything/at/all", cast_to=httpx.Response)
    assert anything.value.code == "unknown_url" and anything.value.type == "invalid_request_error"
    with pytest.raises(openai.APIStatusError) as wrong_method:
        await client.get("/chat/completions", cast_to=httpx.Response)
    assert wrong_method.value.status_code == 405 and wrong_method.value.code == "method_not_allowed"
    assert "Invalid method for URL (GET /v1/chat/completions)" in str(wrong_method.value)
    assert wrong_method.value.response.headers["content-type"].startswith("application/json")


async def test_a_path_outside_v1_still_answers_problem_details(
    sdk: tuple[openai.AsyncOpenAI, ScriptedProvider],
) -> None:
    client, _ = sdk
    response = await client._client.get(str(client.base_url).replace("/v1/", "/api/nothing-here"))
    assert response.status_code == 404 and response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[openai.AsyncOpenAI, httpx.AsyncClient, dict[str, str]]]:
    """The offline demo model (one word a token), reached by the SDK and by plain HTTP."""
    container = memory_container(tmp_path, settings={"demo_delay_ms": 0})
    async with app_client(container) as client:
        token = await verified_user_token(container, "ada@example.com")
        sdk = openai.AsyncOpenAI(base_url=str(client.base_url.join("/v1")), api_key=token, http_client=client)
        yield sdk, client, bearer(token)


async def test_a_reply_cut_by_max_tokens_finishes_for_length(
    demo: tuple[openai.AsyncOpenAI, httpx.AsyncClient, dict[str, str]],
) -> None:
    """On /v1 (plain and streamed) and in the `done` event of /api/chat; a reply the model finished says stop."""
    sdk, client, headers = demo
    cut = await sdk.chat.completions.create(
        model="parley-demo", messages=[{"role": "user", "content": "Tell me a long story"}], max_tokens=3
    )
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 3
    stream = await sdk.chat.completions.create(
        model="parley-demo", messages=[{"role": "user", "content": "Tell me another"}], max_tokens=3, stream=True
    )
    assert [c.choices[0].finish_reason async for c in stream if c.choices][-1] == "length"
    whole = await sdk.chat.completions.create(
        model="parley-demo", messages=[{"role": "user", "content": "Hi"}], max_tokens=500
    )
    assert whole.choices[0].finish_reason == "stop"

    for max_tokens, reason in ((3, "length"), (500, "stop")):
        body = {"content": f"And a story of {max_tokens}", "max_tokens": max_tokens, "stream": True}
        response = await client.post("/api/chat", json=body, headers=headers)
        done = [block for block in response.text.split("\n\n") if "event: done" in block]
        assert len(done) == 1
        assert json.loads(done[0].split("data: ", 1)[1])["finish_reason"] == reason


async def test_one_model_is_retrieved_by_id_and_a_model_off_the_plan_does_not_exist(
    sdk: tuple[openai.AsyncOpenAI, ScriptedProvider],
) -> None:
    client, _ = sdk

    model = await client.models.retrieve("m")

    assert (model.id, model.object, model.owned_by) == ("m", "model", "scripted")
    for missing in ("nope", "big"):  # unknown, and on another plan only (OpenAI says the same for both)
        with pytest.raises(openai.NotFoundError) as error:
            await client.models.retrieve(missing)
        assert error.value.code == "model_not_found" and missing in error.value.message


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("n", 2),
        ("stop", ["\n"]),
        ("seed", 7),
        ("top_p", 0.5),
        ("logit_bias", {"50256": -100}),
        ("tools", [{"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}]),
        ("response_format", {"type": "json_object"}),
    ],
)
async def test_a_parameter_no_model_honours_is_refused_naming_it_not_ignored(
    sdk: tuple[openai.AsyncOpenAI, ScriptedProvider], param: str, value: object
) -> None:
    client, provider = sdk
    messages = [{"role": "user", "content": "x"}]

    with pytest.raises(openai.BadRequestError) as refused:
        await client.chat.completions.create(model="m", messages=messages, **{param: value})  # type: ignore[call-overload]

    assert refused.value.param == param and provider.requests == []
    defaults = {"n": 1, "top_p": 1, "presence_penalty": 0, "stop": None, "response_format": {"type": "text"}}
    done = await client.chat.completions.create(model="m", messages=messages, **defaults)  # type: ignore[call-overload]
    assert done.choices[0].message.content
