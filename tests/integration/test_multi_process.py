"""Production shape on one machine: two `parley serve` processes and a `parley worker` sharing PostgreSQL,
Redis and RabbitMQ. Rate limits hold across the API processes; each email goes out exactly once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cluster import running_cluster
from tests.support.server import Mailbox, ServerProcess

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_url: str, redis_url: str, jobs_queue: str, rabbitmq_url: str
) -> Iterator[tuple[list[ServerProcess], Mailbox]]:
    with running_cluster(
        tmp_path, postgres_url=postgres_url, redis_url=redis_url, rabbitmq_url=rabbitmq_url, jobs_queue=jobs_queue
    ) as running:
        yield running.servers, running.mailbox


def test_rate_limits_hold_across_api_processes(cluster: tuple[list[ServerProcess], Mailbox]) -> None:
    servers, _ = cluster
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    statuses = []
    for attempt in range(12):
        url = servers[attempt % 2].url
        response = httpx.post(f"{url}/api/auth/signin", json={"email": email, "password": "wrong password here"})
        statuses.append(response.status_code)
        if response.status_code == 401:
            assert int(response.headers["RateLimit-Remaining"]) == 9 - attempt
    assert statuses == [401] * 10 + [429, 429]
    refused = httpx.post(f"{servers[0].url}/api/auth/signin", json={"email": email, "password": "x" * 12})
    assert refused.json()["type"].endswith("rate-limited") and int(refused.headers["Retry-After"]) > 0


def test_each_email_is_sent_exactly_once(cluster: tuple[list[ServerProcess], Mailbox]) -> None:
    servers, mailbox = cluster
    emails = [f"user{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(8)]
    for index, email in enumerate(emails):
        # Distinct client addresses behind the trusted proxy, so the per-IP signup limit does not interfere.
        headers = {"X-Forwarded-For": f"203.0.113.{index + 1}"}
        body = {"email": email, "password": PASSWORD}
        assert httpx.post(f"{servers[index % 2].url}/api/auth/signup", json=body, headers=headers).status_code == 202
    for email in emails:
        mailbox.wait_for(email)
    # Every relay has had time to publish (they poll every 0.2 s); a duplicate delivery would show up as a
    # second file: ask the worker for one more job and wait for it, so earlier jobs are certainly done.
    marker = f"marker-{uuid.uuid4().hex[:6]}@example.com"
    httpx.post(
        f"{servers[0].url}/api/auth/signup",
        json={"email": marker, "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.200"},
    )
    mailbox.wait_for(marker)
    sent = Counter(message["To"] for message in mailbox.messages())
    assert all(sent[email] == 1 for email in emails), sent
