"""GET /metrics in process: after chats (one failing over), a cached chat, a 402 and a plan refusal, the scrape
shows the right counts and histogram buckets by provider and model; the outbox depth is read at scrape time;
PARLEY_METRICS_TOKEN guards the route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from adapters.memory.llm import Script, ScriptedProvider
from application.shared.ports import OutboxMessage
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.model import Usage
from tests.support.app import app_client, bearer, memory_container, verified_user_token

ALL = frozenset({"free", "plus", "pro"})


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(scrape: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float | None:
    return scrape.get((name, frozenset(labels.items())))


async def scrape(client: httpx.AsyncClient, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return samples(response.text)


async def test_chats_show_by_provider_and_model_with_cache_quota_and_plan_refusals(tmp_path: Path) -> None:
    primary = ScriptedProvider("primary", [Script(fail_after=0)])
    backup = ScriptedProvider("backup", [Script(pieces=("A long reply.",), usage=Usage(1_000, 8_000))])
    route = (RouteStep("primary", "up"), RouteStep("backup", "up"))
    catalogue = ModelCatalogue([ModelSpec("m", route, 8192, ALL), ModelSpec("m-pro", route, 8192, frozenset({"pro"}))])
    container = memory_container(
        tmp_path, providers={"primary": primary, "backup": backup}, catalogue=catalogue, settings={"demo_delay_ms": 0}
    )
    async with app_client(container) as client:
        user = bearer(await verified_user_token(container, "ada@example.com"))

        async def chat(**body: Any) -> httpx.Response:
            return await client.post("/api/chat", json={"model": "m", **body}, headers=user)

        assert (await chat(content="hi")).status_code == 200  # primary fails first, backup answers
        cached = await chat(content="hi")
        assert cached.status_code == 200 and cached.json()["message"]["cached"] is True
        assert (await chat(content="more", max_tokens=1_000)).status_code == 402
        assert (await chat(content="hi", model="m-pro")).status_code == 403
        metrics = await scrape(client)

    assert value(metrics, "parley_provider_requests_total", provider="primary", model="m") == 1
    assert value(metrics, "parley_provider_requests_total", provider="backup", model="m") == 1
    assert value(metrics, "parley_provider_errors_total", provider="primary", model="m", stage="first_token") == 1
    assert value(metrics, "parley_provider_errors_total", provider="backup", model="m", stage="first_token") is None
    assert value(metrics, "parley_tokens_total", provider="backup", model="m", kind="prompt") == 1_000
    assert value(metrics, "parley_tokens_total", provider="backup", model="m", kind="completion") == 8_000
    for histogram in ("parley_provider_latency_seconds", "parley_provider_ttft_seconds"):
        assert value(metrics, f"{histogram}_count", provider="backup", model="m") == 1
        assert value(metrics, f"{histogram}_bucket", provider="backup", model="m", le="+Inf") == 1
        assert value(metrics, f"{histogram}_bucket", provider="backup", model="m", le="30.0") == 1  # in-process: fast
        assert value(metrics, f"{histogram}_count", provider="primary", model="m") is None  # it never answered
    assert value(metrics, "parley_response_cache_lookups_total", result="hit") == 1
    assert value(metrics, "parley_response_cache_lookups_total", result="miss") == 2  # the first chat, the 402
    assert value(metrics, "parley_quota_refusals_total", plan="free") == 1
    assert value(metrics, "parley_plan_refusals_total", plan="free", model="m-pro") == 1
    assert value(metrics, "parley_http_requests_total", method="POST", route="/api/chat", status="402") == 1


async def test_a_reply_failing_mid_stream_counts_as_a_midstream_error(tmp_path: Path) -> None:
    flaky = ScriptedProvider("flaky", [Script(pieces=("Half ", "a ", "reply"), fail_after=2)])
    catalogue = ModelCatalogue([ModelSpec("m", (RouteStep("flaky", "up"),), 8192, ALL)])
    container = memory_container(tmp_path, providers={"flaky": flaky}, catalogue=catalogue)
    async with app_client(container) as client:
        user = bearer(await verified_user_token(container, "ada@example.com"))
        response = await client.post("/api/chat", json={"model": "m", "content": "go", "stream": True}, headers=user)
        assert response.status_code == 200 and "event: error" in response.text
        metrics = await scrape(client)

    assert value(metrics, "parley_provider_requests_total", provider="flaky", model="m") == 1
    assert value(metrics, "parley_provider_errors_total", provider="flaky", model="m", stage="midstream") == 1
    assert value(metrics, "parley_provider_latency_seconds_count", provider="flaky", model="m") == 1


async def test_the_outbox_depth_is_the_number_of_unpublished_messages_at_scrape_time(tmp_path: Path) -> None:
    # The relay runs once at start-up, then not for an hour: what is added afterwards stays unpublished.
    container = memory_container(tmp_path, settings={"outbox_poll_seconds": 3600})
    async with app_client(container) as client:
        assert value(await scrape(client), "parley_outbox_depth") == 0
        async with container.uow_factory() as uow:
            for n in range(3):
                await uow.outbox.add(
                    OutboxMessage(topic="test.nothing", payload={"n": n}, created_at=container.clock.now())
                )
            await uow.commit()

        assert value(await scrape(client), "parley_outbox_depth") == 3


async def test_the_metrics_token_guards_the_scrape(tmp_path: Path) -> None:
    container = memory_container(tmp_path, settings={"metrics_token": "scrape-secret"})
    async with app_client(container) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer guess"})
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})

    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "parley_" not in refused.text
    assert right.status_code == 200 and "parley_http_requests_total" in right.text
