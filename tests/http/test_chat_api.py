"""POST /api/chat and the conversation routes, in-process on in-memory adapters: what a client sees for
replies, streams, the cache, quotas, plan gating, failover and ownership."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.memory.llm import Script, ScriptedProvider
from adapters.memory.quota_ledger import InMemoryQuotaLedger
from application.conversation.ports import Reservation, Settlement
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.errors import QuotaUnavailable
from domain.conversation.model import Usage
from entrypoints.bootstrap import Container
from tests.support.app import app_client, bearer, memory_container, verified_user_token

ALL = frozenset({"free", "plus", "pro"})


def parse_sse(text: str) -> list[tuple[int, str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return events


@dataclass
class Api:
    client: httpx.AsyncClient
    container: Container
    headers: dict[str, str]

    async def chat(self, **body: Any) -> httpx.Response:
        return await self.client.post("/api/chat", json=body, headers=self.headers)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    container = memory_container(tmp_path, settings={"demo_delay_ms": 0})
    async with app_client(container) as client:
        token = await verified_user_token(container, "ada@example.com")
        yield Api(client, container, bearer(token))


def scripted(tmp_path: Path, *providers: ScriptedProvider, **settings: Any) -> Container:
    route = tuple(RouteStep(p.name, "upstream-model") for p in providers)
    catalogue = ModelCatalogue([ModelSpec("m", route, 8192, ALL)])
    return memory_container(tmp_path, settings=settings, providers={p.name: p for p in providers}, catalogue=catalogue)


async def test_a_reply_comes_with_its_usage_and_quota(api: Api) -> None:
    content = "Could you explain, in a few words, why the sky looks blue on a clear summer afternoon?"
    response = await api.chat(content=content)
    assert response.status_code == 200
    body = response.json()
    message, quota = body["message"], body["quota"]
    assert message["role"] == "assistant" and message["content"] and message["cached"] is False
    assert message["model"] == "parley-demo" and message["provider"] == "demo"
    usage = message["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert quota["used"] == usage["total_tokens"] and quota["remaining"] == quota["limit"] - quota["used"]

    conversation = (await api.client.get(f"/api/conversations/{body['conversation_id']}", headers=api.headers)).json()
    assert conversation["title"] == "Could you explain, in a few words, why the sky looks blue on"
    assert [(m["role"], m["content"]) for m in conversation["messages"]] == [
        ("user", content),
        ("assistant", message["content"]),
    ]


async def test_a_streamed_reply_is_numbered_events_start_deltas_done(api: Api) -> None:
    response = await api.chat(content="Stream me something", stream=True)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    ids = [event_id for event_id, _, _ in events]
    assert ids == sorted(set(ids))
    names = [name for _, name, _ in events]
    assert names[0] == "start" and names[-1] == "done" and set(names[1:-1]) == {"delta"}
    start, done = events[0][2], events[-1][2]
    assert start["model"] == "parley-demo" and start["message_id"] == done["message_id"]
    text = "".join(data["text"] for _, name, data in events if name == "delta")
    stored = (await api.client.get(f"/api/conversations/{start['conversation_id']}", headers=api.headers)).json()
    assert stored["messages"][-1]["content"] == text
    assert done["quota"]["used"] == done["usage"]["total_tokens"]

    accept = await api.client.post(
        "/api/chat", json={"content": "Stream me too"}, headers={**api.headers, "Accept": "text/event-stream"}
    )
    assert parse_sse(accept.text)[-1][1] == "done"


async def test_an_identical_request_is_answered_from_the_cache_for_free(api: Api) -> None:
    first = (await api.chat(content="What is 2 + 2?")).json()
    second = (await api.chat(content="What is 2 + 2?")).json()
    assert second["message"]["cached"] is True
    assert second["message"]["content"] == first["message"]["content"]
    assert second["quota"]["used"] == first["quota"]["used"]
    streamed = parse_sse((await api.chat(content="What is 2 + 2?", stream=True)).text)
    assert streamed[-1][2]["cached"] is True
    assert "".join(d["text"] for _, n, d in streamed if n == "delta") == first["message"]["content"]
    other = (await api.chat(content="What is 2 + 2?", temperature=0.5)).json()
    assert other["message"]["cached"] is False  # other parameters, other answer
    usage = (await api.client.get("/api/usage", headers=api.headers)).json()
    assert usage["by_model"][0]["requests"] == 4 and usage["used"] == other["quota"]["used"]


async def test_a_request_that_could_overspend_the_quota_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    big = ScriptedProvider("big", [Script(pieces=("A long reply.",), usage=Usage(1_000, 8_000))])
    container = scripted(tmp_path, big)
    async with app_client(container) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        first = await client.post("/api/chat", json={"content": "hi", "model": "m"}, headers=headers)
        assert first.json()["quota"] == {**first.json()["quota"], "used": 9_000, "remaining": 1_000}
        before = (await client.get("/api/conversations", headers=headers)).json()["items"]
        refused = await client.post(
            "/api/chat", json={"content": "more", "model": "m", "max_tokens": 1_000}, headers=headers
        )
        after = (await client.get("/api/conversations", headers=headers)).json()["items"]
        provider_calls = len(big.requests)
        fits = await client.post(
            "/api/chat", json={"content": "more", "model": "m", "max_tokens": 500}, headers=headers
        )
    assert refused.status_code == 402 and refused.json()["type"].endswith("quota-exceeded")
    assert after == before and provider_calls == 1  # nothing stored, no provider called
    assert fits.status_code == 200


async def test_plans_gate_models_and_unknown_models_are_422(api: Api) -> None:
    large = await api.chat(content="hi", model="parley-demo-large")
    assert large.status_code == 403 and large.json()["type"].endswith("model-not-allowed")
    unknown = await api.chat(content="hi", model="gpt-17")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "model"
    models = (await api.client.get("/api/models", headers=api.headers)).json()["items"]
    assert {m["id"]: m["allowed"] for m in models} == {"parley-demo": True, "parley-demo-large": False}

    plus = await verified_user_token(api.container, "paid@example.com", plan="plus")
    paid = await api.client.post(
        "/api/chat", json={"content": "hi", "model": "parley-demo-large"}, headers=bearer(plus)
    )
    assert paid.status_code == 200 and paid.json()["message"]["model"] == "parley-demo-large"


async def test_unverified_users_cannot_chat(api: Api) -> None:
    token = await verified_user_token(api.container, "new@example.com", verified=False)
    response = await api.client.post("/api/chat", json={"content": "hi"}, headers=bearer(token))
    assert response.status_code == 403 and response.json()["type"].endswith("email-not-verified")
    key = (await api.client.post("/api/keys", json={"name": "k"}, headers=bearer(token))).json()["key"]
    with_key = await api.client.post("/api/chat", json={"content": "hi"}, headers=bearer(key))
    assert with_key.status_code == 403


async def test_bad_input_changes_nothing(api: Api) -> None:
    for body in (
        {"content": ""},
        {"content": "x" * 32_001},
        {"content": "hi", "max_tokens": 0},
        {"content": "hi", "temperature": 3},
    ):
        response = await api.chat(**body)
        assert response.status_code == 422, body
    assert (await api.client.get("/api/conversations", headers=api.headers)).json()["items"] == []


async def test_conversations_are_private_paginated_and_deletable(api: Api) -> None:
    ids = [(await api.chat(content=f"conversation number {i}")).json()["conversation_id"] for i in range(5)]
    page = (await api.client.get("/api/conversations?limit=2", headers=api.headers)).json()
    seen = [c["id"] for c in page["items"]]
    while page["next_cursor"]:
        page = (
            await api.client.get(f"/api/conversations?limit=2&cursor={page['next_cursor']}", headers=api.headers)
        ).json()
        seen += [c["id"] for c in page["items"]]
    assert seen == ids[::-1]  # newest first, each once
    assert (await api.client.get("/api/conversations?limit=101", headers=api.headers)).status_code == 422
    assert (await api.client.get("/api/conversations?cursor=garbage", headers=api.headers)).status_code == 422

    mallory = bearer(await verified_user_token(api.container, "mallory@example.com"))
    assert (await api.client.get(f"/api/conversations/{ids[0]}", headers=mallory)).status_code == 404
    assert (await api.client.delete(f"/api/conversations/{ids[0]}", headers=mallory)).status_code == 404
    foreign = await api.client.post("/api/chat", json={"content": "hi", "conversation_id": ids[0]}, headers=mallory)
    assert foreign.status_code == 404

    assert (await api.client.delete(f"/api/conversations/{ids[0]}", headers=api.headers)).status_code == 204
    assert (await api.client.get(f"/api/conversations/{ids[0]}", headers=api.headers)).status_code == 404


async def test_a_stream_can_be_resumed_with_last_event_id(api: Api) -> None:
    events = parse_sse((await api.chat(content="Resume me later", stream=True)).text)
    message_id = events[0][2]["message_id"]
    resumed = await api.client.get(f"/api/chat/{message_id}/events", headers={**api.headers, "Last-Event-ID": "3"})
    assert resumed.status_code == 200
    assert parse_sse(resumed.text) == events[3:]
    mallory = bearer(await verified_user_token(api.container, "eve@example.com"))
    assert (await api.client.get(f"/api/chat/{message_id}/events", headers=mallory)).status_code == 404


async def test_failover_happens_before_the_first_token(tmp_path: Path) -> None:
    primary = ScriptedProvider("primary", [Script(fail_after=0)])
    backup = ScriptedProvider("backup", [Script(pieces=("From ", "backup."), usage=Usage(5, 2))])
    container = scripted(tmp_path, primary, backup)
    async with app_client(container) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        response = await client.post("/api/chat", json={"content": "hi", "model": "m"}, headers=headers)
    assert response.status_code == 200
    message = response.json()["message"]
    assert (message["provider"], message["content"], message["usage"]["total_tokens"]) == ("backup", "From backup.", 7)
    assert len(primary.requests) == len(backup.requests) == 1


async def test_every_provider_failing_is_503_and_costs_nothing(tmp_path: Path) -> None:
    down = ScriptedProvider("down", [Script(fail_after=0)])
    container = scripted(tmp_path, down)
    async with app_client(container) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        response = await client.post("/api/chat", json={"content": "hi", "model": "m", "stream": True}, headers=headers)
        usage = (await client.get("/api/usage", headers=headers)).json()
    assert response.status_code == 503 and response.json()["type"].endswith("provider-unavailable")
    assert usage["used"] == 0


async def streamed_chat(container: Container) -> tuple[list[tuple[int, str, dict[str, Any]]], Any, Any]:
    """A new user's streamed "hi" to model m: its events, then the conversation and GET /api/usage as they read."""
    async with app_client(container) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        response = await client.post("/api/chat", json={"content": "hi", "model": "m", "stream": True}, headers=headers)
        events = parse_sse(response.text)
        conversation = (
            await client.get(f"/api/conversations/{events[0][2]['conversation_id']}", headers=headers)
        ).json()
        usage = (await client.get("/api/usage", headers=headers)).json()
    return events, conversation, usage


async def test_a_provider_failing_mid_stream_ends_with_an_error_event_and_charges_what_was_produced(
    tmp_path: Path,
) -> None:
    flaky = ScriptedProvider("flaky", [Script(pieces=("Half ", "a ", "reply"), fail_after=2)])
    container = scripted(tmp_path, flaky)
    events, conversation, usage = await streamed_chat(container)
    assert [name for _, name, _ in events] == ["start", "delta", "delta", "error"]
    assert events[-1][2]["type"].endswith("provider-unavailable")
    assert conversation["messages"][-1]["content"] == "Half a "
    assert usage["used"] > 0  # the produced tokens are charged (estimated: the provider never reported usage)


class LedgerGoneAtSettle(InMemoryQuotaLedger):
    """Reserves as usual; cannot be reached when the reply is settled."""

    async def settle(self, reservation: Reservation, actual: int) -> Settlement:
        raise QuotaUnavailable()


async def test_a_quota_ledger_lost_mid_reply_still_ends_the_stream_and_records_the_reply(tmp_path: Path) -> None:
    provider = ScriptedProvider("p", [Script(pieces=("All ", "said"), usage=Usage(5, 2))])
    container = memory_container(
        tmp_path,
        providers={"p": provider},
        catalogue=ModelCatalogue([ModelSpec("m", (RouteStep("p", "up"),), 8192, ALL)]),
        ledger=LedgerGoneAtSettle(),
    )
    events, conversation, usage = await streamed_chat(container)
    assert [name for _, name, _ in events] == ["start", "delta", "delta", "done"]
    assert events[-1][2]["quota"]["used"] == 7  # told from the durable totals, this reply included
    assert [m["content"] for m in conversation["messages"]] == ["hi", "All said"]
    (model,) = usage["by_model"]  # recorded: billing reads these records
    assert (model["requests"], model["prompt_tokens"], model["completion_tokens"]) == (1, 5, 2)


async def test_an_unreachable_quota_ledger_fails_closed(tmp_path: Path) -> None:
    from adapters.redis.client import create_redis
    from adapters.redis.quota_ledger import RedisQuotaLedger

    dead = create_redis("redis://127.0.0.1:1/0")
    provider = ScriptedProvider("p")
    route = (RouteStep("p", "up"),)
    container = memory_container(
        tmp_path,
        providers={"p": provider},
        catalogue=ModelCatalogue([ModelSpec("m", route, 8192, ALL)]),
        ledger=RedisQuotaLedger(dead),
    )
    async with app_client(container) as client:
        headers = bearer(await verified_user_token(container, "ada@example.com"))
        response = await client.post("/api/chat", json={"content": "hi", "model": "m"}, headers=headers)
    await dead.aclose()
    assert response.status_code == 503 and response.json()["type"].endswith("service-unavailable")
    assert provider.requests == []  # never unmetered generation
