"""Chatting through a real `parley serve`: the demo model on the embedded default, the official `openai`
SDK (sync and async, plain and streamed) on /v1 with an API key, a client walking away mid-stream, and a
server whose models route to local fake OpenAI and Anthropic upstreams with failover."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.accounts import bearer, verified_access_token
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_openai import FakeOpenAi, Scenario
from tests.support.server import Mailbox, ServerProcess, running_server


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event is not None:
            yield event, json.loads(line[6:])


def wait_until(condition: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)  # another process does the work: poll what it exposes
    raise AssertionError("condition not met in time")


def test_chat_on_the_embedded_default(client: httpx.Client, mailbox: Mailbox) -> None:
    headers = bearer(verified_access_token(client, mailbox))
    reply = client.post("/api/chat", json={"content": "Hello, Parley!"}, headers=headers)
    assert reply.status_code == 200 and reply.json()["message"]["provider"] == "demo"
    conversation_id = reply.json()["conversation_id"]

    with client.stream(
        "POST",
        "/api/chat",
        json={"content": "And again", "conversation_id": conversation_id, "stream": True},
        headers=headers,
    ) as stream:
        events = list(sse_events(stream.iter_lines()))
    assert events[0][0] == "start" and events[-1][0] == "done"
    listed = client.get("/api/conversations", headers=headers).json()["items"]
    assert [c["id"] for c in listed] == [conversation_id] and listed[0]["message_count"] == 4


def test_the_official_openai_sdk_works_against_v1(
    client: httpx.Client, mailbox: Mailbox, server: ServerProcess
) -> None:
    token = verified_access_token(client, mailbox)
    key = client.post("/api/keys", json={"name": "sdk"}, headers=bearer(token)).json()["key"]
    sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key)
    messages: list[Any] = [{"role": "user", "content": "Say hello"}]

    completion = sdk.chat.completions.create(model="parley-demo", messages=messages)
    assert completion.choices[0].message.content and completion.usage is not None
    chunks = list(
        sdk.chat.completions.create(
            model="parley-demo", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == completion.choices[0].message.content
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == completion.usage.total_tokens
    assert [m.id for m in sdk.models.list().data] == ["parley-demo", "parley-demo-embed"]

    async def async_calls() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=key) as asdk:
            plain = await asdk.chat.completions.create(
                model="parley-demo", messages=[{"role": "user", "content": "Hi!"}]
            )
            stream = await asdk.chat.completions.create(
                model="parley-demo", messages=[{"role": "user", "content": "Hi!"}], stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return plain.choices[0].message.content or "", text

    plain, streamed_async = asyncio.run(async_calls())
    assert plain == streamed_async != ""

    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model="no-such-model", messages=messages)


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from running_server(tmp_path_factory.mktemp("slow"), PARLEY_DEMO_DELAY_MS="150")


def test_a_client_that_walks_away_is_charged_for_what_was_produced(slow_server: ServerProcess) -> None:
    mailbox = Mailbox(slow_server.workdir / "var" / "mail")
    with httpx.Client(base_url=slow_server.url, timeout=20) as client:
        headers = bearer(verified_access_token(client, mailbox))
        received = []
        with client.stream(
            "POST", "/api/chat", json={"content": "Tell me a long story", "stream": True}, headers=headers
        ) as s:
            for event, data in sse_events(s.iter_lines()):
                if event == "start":
                    conversation_id = data["conversation_id"]
                elif event == "delta":
                    received.append(data["text"])
                if len(received) == 3:
                    break  # closing the response closes the connection mid-reply

        def partial_reply() -> Any:
            messages = client.get(f"/api/conversations/{conversation_id}", headers=headers).json()["messages"]
            return messages[-1] if messages[-1]["role"] == "assistant" else None

        kept = wait_until(partial_reply)
        usage = client.get("/api/usage", headers=headers).json()
    assert kept["content"].startswith("".join(received))
    words = len(kept["content"].split())
    assert words < 15  # the provider call was cancelled: not the whole reply
    assert usage["used"] > 0 and usage["by_model"][0]["completion_tokens"] == kept["usage"]["completion_tokens"]


@pytest.fixture
def upstream_server(tmp_path: Path, fake_openai: FakeOpenAi, fake_anthropic: FakeAnthropic) -> Iterator[ServerProcess]:
    models = [
        {
            "id": "smart",
            "route": [
                {"provider": "openai", "model": "gpt-4o-mini"},
                {"provider": "anthropic", "model": "claude-haiku"},
            ],
            "context_window": 16_000,
            "plans": ["free", "plus", "pro"],
        }
    ]
    models_file = tmp_path / "models.json"
    models_file.write_text(json.dumps(models))
    yield from running_server(
        tmp_path,
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.base_url,
        ANTHROPIC_API_KEY=fake_anthropic.api_key,
        ANTHROPIC_BASE_URL=fake_anthropic.base_url,
        PARLEY_MODELS_FILE=str(models_file),
    )


def test_real_sdks_reach_the_upstreams_and_fail_over(
    upstream_server: ServerProcess, fake_openai: FakeOpenAi, fake_anthropic: FakeAnthropic
) -> None:
    mailbox = Mailbox(upstream_server.workdir / "var" / "mail")
    with httpx.Client(base_url=upstream_server.url, timeout=20) as client:
        headers = bearer(verified_access_token(client, mailbox))
        fake_openai.script(Scenario(reply="From OpenAI.", prompt_tokens=11, completion_tokens=3))
        first = client.post("/api/chat", json={"content": "hi", "model": "smart"}, headers=headers).json()
        assert (first["message"]["provider"], first["message"]["content"]) == ("openai", "From OpenAI.")
        assert first["message"]["usage"]["total_tokens"] == 14

        fake_openai.script(*[Scenario(status=500)] * 3)  # the SDK's own retries, then failover
        fake_anthropic.script(Scenario(reply="From Anthropic.", prompt_tokens=7, completion_tokens=4))
        second = client.post("/api/chat", json={"content": "hello again", "model": "smart"}, headers=headers).json()
        assert (second["message"]["provider"], second["message"]["content"]) == ("anthropic", "From Anthropic.")
        assert second["quota"]["used"] == 14 + 11
    sent = fake_anthropic.requests[-1].body
    assert sent["model"] == "claude-haiku" and sent["messages"][-1]["content"] == "hello again"
