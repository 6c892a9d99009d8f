"""The live feed and the metrics in the production shape on one machine: a chat on one API process shows in
the WebSocket snapshot of another (both on Redis and PostgreSQL), and `parley serve --workers 2` reports the
sums of both of its processes whichever one answers the scrape."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import ClientConnection, connect

from tests.support.cluster import Cluster, running_cluster
from tests.support.server import ServerProcess, base_env, free_port, start_process, wait_until_healthy

PASSWORD = "correct horse battery staple"
WAIT_SECONDS = 20.0


def _token(cluster: Cluster, url: str, email: str, *, admin: bool = False) -> str:
    if admin:
        cluster.cli("users", "create-admin", email, stdin=f"{PASSWORD}\n")
    else:
        assert httpx.post(f"{url}/api/auth/signup", json={"email": email, "password": PASSWORD}).status_code == 202
    token: str = httpx.post(f"{url}/api/auth/signin", json={"email": email, "password": PASSWORD}).json()[
        "access_token"
    ]
    return token


def _snapshot(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=WAIT_SECONDS))
    assert message["type"] == "snapshot"
    return message


def test_a_chat_on_one_process_shows_in_the_live_feed_of_another(
    tmp_path: Path, postgres_url: str, redis_url: str, jobs_queue: str, rabbitmq_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    with running_cluster(
        tmp_path,
        postgres_url=postgres_url,
        redis_url=redis_url,
        rabbitmq_url=rabbitmq_url,
        jobs_queue=jobs_queue,
        PARLEY_REQUIRE_VERIFIED_EMAIL="false",
        PARLEY_LIVE_INTERVAL_SECONDS="0.2",
        PARLEY_DEMO_DELAY_MS="0",
    ) as cluster:
        first, second = (server.url for server in cluster.servers)
        admin = _token(cluster, second, f"root-{tag}@example.com", admin=True)
        with connect(second.replace("http://", "ws://") + f"/api/analytics/live?token={admin}") as ws:
            before = _snapshot(ws)
            user = _token(cluster, first, f"ada-{tag}@example.com")  # a sign-up on the first process
            chat = httpx.post(
                f"{first}/api/chat", json={"content": "hello there"}, headers={"Authorization": f"Bearer {user}"}
            )
            assert chat.status_code == 200, chat.text
            tokens = chat.json()["message"]["usage"]["total_tokens"]

            while (now := _snapshot(ws))["messages_last_minute"] == before["messages_last_minute"]:
                pass  # the first process flushes its counts about every second
            assert now["messages_last_minute"] == before["messages_last_minute"] + 1
            assert now["tokens_last_minute"] == before["tokens_last_minute"] + tokens
            assert now["signups_today"] == before["signups_today"] + 1


def _refused_model_listings(text: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "parley_http_requests_total" and labels.get("route") == "/api/models":
                return float(sample.value)
    return 0.0


def test_serve_with_two_workers_reports_the_sums_of_both_processes(
    tmp_path: Path, postgres_url: str, redis_url: str, jobs_queue: str, rabbitmq_url: str
) -> None:
    env = base_env(
        tmp_path,
        PARLEY_DATABASE_URL=postgres_url,
        PARLEY_REDIS_URL=redis_url,
        PARLEY_REDIS_PREFIX=f"test-{uuid.uuid4().hex[:8]}:",
        PARLEY_BROKER_URL=rabbitmq_url,
        PARLEY_JOBS_QUEUE=jobs_queue,
        PARLEY_SECRET_KEY="x" * 48,
    )
    port = free_port()
    process, log_path = start_process(["serve", "--port", str(port), "--workers", "2"], tmp_path, env, "server")
    server = ServerProcess(f"http://127.0.0.1:{port}", tmp_path, process, log_path)
    try:
        wait_until_healthy(server)
        sent = 40
        for _ in range(sent):  # a new connection each time: the two processes share them out
            with httpx.Client(base_url=server.url) as fresh:
                assert fresh.get("/api/models").status_code == 401
        scrapes = []
        for _ in range(8):
            with httpx.Client(base_url=server.url) as fresh:
                scrapes.append(_refused_model_listings(fresh.get("/metrics").text))
        # Each process alone counts only the requests it answered: every scrape, whichever process answers it,
        # reads the sum of both.
        assert scrapes == [sent] * 8
    finally:
        server.stop()
