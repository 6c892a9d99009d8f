"""Error reports (SENTRY_DSN): sent to a local receiver that speaks Sentry's envelope protocol, on a random port.
A route that fails gives one report naming the request id the client saw and the user's id, with no secret of
the request in it; a failed job is reported by the worker; without SENTRY_DSN nothing is initialised."""

from __future__ import annotations

import gzip
import json
import queue
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope

from adapters.jobs.dramatiq_broker import create_broker
from entrypoints.http.app import create_app
from entrypoints.observability.sentry import init_sentry
from entrypoints.settings import Settings
from entrypoints.worker.actors import RetryPolicy, declare_actors
from tests.support.app import PASSWORD, app_client, bearer, memory_container, verified_user_token

EMAIL = "ada@example.com"
JOB_ID = "0190c4a8-0000-7000-8000-000000000001"
SECRET_KEY = "k" * 48  # the key tests.support.app signs with
LEAKY_MESSAGE = "upstream refused: password=hunter2-leaked Authorization: Bearer sk-live-leakedproviderkey123"


@dataclass
class Receiver:
    dsn: str
    envelopes: queue.Queue[Envelope]
    raw: list[bytes]
    """Every envelope as it arrived (decompressed): what a leak would show up in."""

    def events(self) -> list[dict[str, Any]]:
        """Every event the SDK sent so far (it sends from a thread of its own: flush waits for it)."""
        sentry_sdk.flush(timeout=10)
        events = []
        while not self.envelopes.empty():
            for item in self.envelopes.get_nowait().items:
                if item.type == "event" and item.payload.json is not None:
                    events.append(item.payload.json)
        return events


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    envelopes: queue.Queue[Envelope] = queue.Queue()
    raw: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            raw.append(body)
            envelopes.put(Envelope.deserialize(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found = Receiver(f"http://publickey@127.0.0.1:{server.server_port}/42", envelopes, raw)
    try:
        yield found
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)  # the next test starts without a client
        server.shutdown()
        server.server_close()


def _raw(receiver: Receiver) -> str:
    return b"\n".join(receiver.raw).decode("utf-8", "replace")


async def test_a_failing_route_gives_one_report_with_request_and_user_ids_and_no_secret(
    tmp_path: Path, receiver: Receiver
) -> None:
    container = memory_container(tmp_path, settings={"sentry_dsn": receiver.dsn})

    async def fail(*_: Any) -> None:
        raise RuntimeError(LEAKY_MESSAGE)

    container.conversation.get_usage = fail  # type: ignore[assignment,method-assign]
    async with app_client(container) as client:
        token = await verified_user_token(container, EMAIL)
        async with container.uow_factory() as uow:
            user = await uow.users.get_by_email(EMAIL)
        assert user is not None
        response = await client.get(
            "/api/usage?token=query-token-secret",
            headers={**bearer(token), "X-Request-ID": "req-report-1", "Cookie": "parley_session=cookie-secret"},
        )
        assert response.status_code == 500
        assert response.headers["x-request-id"] == "req-report-1"
        ok = await client.get("/api/models", headers=bearer(token))
        assert ok.status_code == 200  # a request that succeeds reports nothing

    [event] = receiver.events()
    assert event["tags"]["request_id"] == "req-report-1"
    assert event["tags"]["component"] == "api"
    assert event["user"] == {"id": str(user.id)}
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    payload = _raw(receiver)
    for secret in (token, "cookie-secret", "query-token-secret", "hunter2-leaked", "sk-live-leakedproviderkey123"):
        assert secret not in payload
    assert SECRET_KEY not in payload and PASSWORD not in payload and EMAIL not in payload


def test_a_failed_job_is_reported_by_the_worker(tmp_path: Path, receiver: Receiver) -> None:
    settings = Settings(var_dir=tmp_path, secret_key=SECRET_KEY, sentry_dsn=receiver.dsn, _env_file=None)  # type: ignore[call-arg]
    assert init_sentry(settings, "worker")

    class FailingRuntime:
        async def run(self, message_id: str) -> None:
            raise RuntimeError(f"job {message_id} failed; smtp password=hunter2-leaked")

    broker = create_broker(None)  # the embedded default's broker, middleware included
    actor = declare_actors(broker, "jobs", FailingRuntime(), RetryPolicy(max_retries=0))  # type: ignore[arg-type]
    worker = dramatiq.Worker(broker, worker_threads=1)
    worker.start()
    try:
        actor.send(JOB_ID)
        broker.join("jobs", fail_fast=False)  # type: ignore[attr-defined]
        worker.join()
    finally:
        worker.stop()

    [event] = receiver.events()
    assert event["tags"]["component"] == "worker"
    failure = event["exception"]["values"][-1]
    assert failure["type"] == "RuntimeError" and failure["value"].startswith(f"job {JOB_ID} failed")
    assert "hunter2-leaked" not in _raw(receiver) and SECRET_KEY not in _raw(receiver)


async def test_without_a_dsn_nothing_reports(tmp_path: Path) -> None:
    container = memory_container(tmp_path)

    app = create_app(container)

    assert not sentry_sdk.get_client().is_active()
    assert type(app).__name__ == "RequestContextMiddleware"  # not wrapped in Sentry's middleware
    assert not init_sentry(container.settings, "worker")


def test_the_documented_variable_turns_reports_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SENTRY_DSN", "http://publickey@127.0.0.1:9/1")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "staging")

    settings = Settings(var_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]

    assert (settings.sentry_dsn, settings.sentry_environment) == ("http://publickey@127.0.0.1:9/1", "staging")
    assert json.dumps(settings.model_dump(include={"sentry_dsn"}))
