"""Q1: 200 parallel streamed requests from one user, spread over two API processes sharing PostgreSQL and
Redis, on an almost exhausted quota, against a real OpenAI-speaking upstream: the quota is never overspent
by more than one reply's max_tokens, and the ledger equals the provider-reported usage, reply for reply."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.support.accounts import PASSWORD, bearer
from tests.support.cluster import running_cluster
from tests.support.fake_openai import FakeOpenAi, Scenario

MAX_TOKENS = 50
PROMPT, COMPLETION = 5, 50  # what the upstream reports for every reply: never more than was reserved


async def stream_one(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> int:
    body = {"content": "count to fifty", "model": "gpt-4o-mini", "max_tokens": MAX_TOKENS, "stream": True}
    async with client.stream("POST", f"{url}/api/chat", json=body, headers=headers) as response:
        async for _ in response.aiter_bytes():
            pass
        return response.status_code


def test_parallel_streams_never_overspend_the_quota(
    tmp_path: Path, postgres_url: str, redis_url: str, rabbitmq_url: str, jobs_queue: str, fake_openai: FakeOpenAi
) -> None:
    fake_openai.default = Scenario(
        reply=" ".join(["word"] * COMPLETION), prompt_tokens=PROMPT, completion_tokens=COMPLETION
    )
    with running_cluster(
        tmp_path,
        postgres_url=postgres_url,
        redis_url=redis_url,
        rabbitmq_url=rabbitmq_url,
        jobs_queue=jobs_queue,
        OPENAI_API_KEY=fake_openai.api_key,
        OPENAI_BASE_URL=fake_openai.base_url,
        PARLEY_RATE_LIMIT_ENABLED="false",
        PARLEY_CACHE_TTL_SECONDS="0",
    ) as cluster:
        cluster.cli("users", "create-admin", "load@example.com", stdin=PASSWORD + "\n")
        urls = [server.url for server in cluster.servers]
        token = httpx.post(f"{urls[0]}/api/auth/signin", json={"email": "load@example.com", "password": PASSWORD})
        headers = bearer(token.json()["access_token"])

        # Spend the quota down to its last 1,000 tokens with one big reply.
        fake_openai.script(Scenario(reply="big", prompt_tokens=8_000, completion_tokens=1_000))
        first = httpx.post(f"{urls[0]}/api/chat", json={"content": "big", "model": "gpt-4o-mini"}, headers=headers)
        assert first.json()["quota"]["remaining"] == 1_000

        async def storm() -> list[int]:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                return await asyncio.gather(*(stream_one(client, urls[i % 2], headers) for i in range(200)))

        statuses = asyncio.run(storm())
        usage = httpx.get(f"{urls[1]}/api/usage", headers=headers).json()

    served = statuses.count(200)
    assert set(statuses) <= {200, 402} and statuses.count(402) > 0
    reported = 9_000 + served * (PROMPT + COMPLETION)
    assert usage["used"] == reported  # the ledger equals what the provider reported
    assert sum(m["prompt_tokens"] + m["completion_tokens"] for m in usage["by_model"]) == reported  # durable records
    assert usage["used"] <= usage["limit"] + MAX_TOKENS
    assert len(fake_openai.requests) == served + 1  # a refused request never reached the provider
