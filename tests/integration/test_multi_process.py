"""Production shape on one machine: two `parley serve` processes and a `parley worker` sharing PostgreSQL,
Redis and RabbitMQ. Rate limits hold across the API processes; each email goes out exactly once; an account an
admin disables on one process is refused by every process at once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cluster import Cluster, running_cluster
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


def test_an_account_disabled_through_one_process_is_refused_by_every_process(
    tmp_path: Path, postgres_url: str, redis_url: str, jobs_queue: str, rabbitmq_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    root, ada = f"root-{tag}@example.com", f"ada-{tag}@example.com"
    with running_cluster(
        tmp_path, postgres_url=postgres_url, redis_url=redis_url, rabbitmq_url=rabbitmq_url, jobs_queue=jobs_queue
    ) as running:
        first, second = (server.url for server in running.servers)
        admin = _bearer(_signed_in(running, first, root, admin=True))
        user = _bearer(_signed_in(running, second, ada))
        assert all(httpx.get(f"{url}/api/auth/me", headers=user).status_code == 200 for url in (first, second))
        ada_id = httpx.get(f"{first}/api/admin/users", params={"q": ada}, headers=admin).json()["items"][0]["id"]

        changed = httpx.patch(f"{first}/api/admin/users/{ada_id}", json={"disabled": True}, headers=admin)

        assert changed.status_code == 200 and changed.json()["disabled"] is True
        assert [httpx.get(f"{url}/api/auth/me", headers=user).status_code for url in (first, second)] == [401, 401]
        signin = httpx.post(f"{second}/api/auth/signin", json={"email": ada, "password": PASSWORD})
        assert signin.status_code == 401 and signin.json()["type"].endswith("account-disabled")


def _signed_in(cluster: Cluster, url: str, email: str, *, admin: bool = False) -> str:
    if admin:
        cluster.cli("users", "create-admin", email, stdin=f"{PASSWORD}\n")
    else:
        httpx.post(f"{url}/api/auth/signup", json={"email": email, "password": PASSWORD})
    token: str = httpx.post(f"{url}/api/auth/signin", json={"email": email, "password": PASSWORD}).json()[
        "access_token"
    ]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


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
