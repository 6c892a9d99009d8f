"""Traces leave a real `parley serve` over OTLP/HTTP (protobuf), to a local receiver that speaks the collector
protocol: one chat on PostgreSQL and Redis is one trace holding the HTTP server span, the database statements,
the Redis commands and the provider call as a GenAI span with its model, tokens and time to the first token;
the server's log lines of that request carry the trace's id. On the embedded default (SQLite) the chat's trace
holds its SQLite statements instead. Without an OTLP endpoint tracing stays off."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.server import ServerProcess, running_server

PASSWORD = "correct horse battery staple"
WAIT_SECONDS = 20.0


@dataclass
class Span:
    trace_id: str
    name: str
    kind: int
    service: str
    attributes: dict[str, Any]
    events: list[str]


@dataclass
class Receiver:
    """An OTLP/HTTP trace receiver: every span of every export request, and a condition to wait on."""

    url: str
    spans: list[Span] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self.changed:
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            Span(
                                trace_id=span.trace_id.hex(),
                                name=span.name,
                                kind=span.kind,
                                service=str(resource.get("service.name")),
                                attributes={a.key: _value(a.value) for a in span.attributes},
                                events=[event.name for event in span.events],
                            )
                        )
            self.changed.notify_all()

    def wait_for(self, found: Any) -> Any:
        """Block until `found(spans)` gives something, at most WAIT_SECONDS (then fail)."""
        with self.changed:
            result = self.changed.wait_for(lambda: found(self.spans), timeout=WAIT_SECONDS)
        assert result, f"not received within {WAIT_SECONDS} s; spans so far: {[s.name for s in self.spans]}"
        return result


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                holder["receiver"].add(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder["receiver"]
    server.shutdown()


@pytest.fixture
def traced_server(tmp_path: Path, receiver: Receiver, postgres_url: str, redis_url: str) -> Iterator[ServerProcess]:
    yield from running_server(
        tmp_path,
        PARLEY_DATABASE_URL=postgres_url,
        PARLEY_REDIS_URL=redis_url,
        PARLEY_REDIS_PREFIX=f"test-{uuid.uuid4().hex[:8]}:",
        PARLEY_REQUIRE_VERIFIED_EMAIL="false",
        PARLEY_LOG_FORMAT="json",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )


def _chat(url: str) -> httpx.Response:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    httpx.post(f"{url}/api/auth/signup", json={"email": email, "password": PASSWORD}).raise_for_status()
    signin = httpx.post(f"{url}/api/auth/signin", json={"email": email, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {signin.json()['access_token']}"}
    reply = httpx.post(f"{url}/api/chat", json={"content": "Hello, traces!"}, headers=headers, timeout=30)
    reply.raise_for_status()
    return reply


def test_one_chat_is_one_trace_with_its_http_database_redis_and_provider_spans(
    traced_server: ServerProcess, receiver: Receiver
) -> None:
    _chat(traced_server.url)

    def chat_trace(spans: list[Span]) -> tuple[str, list[Span]] | None:
        for span in spans:
            if span.name == "POST /api/chat":
                same = [other for other in spans if other.trace_id == span.trace_id]
                if any(other.attributes.get("gen_ai.operation.name") == "chat" for other in same):
                    return span.trace_id, same
        return None

    trace_id, spans = receiver.wait_for(chat_trace)
    [llm] = [span for span in spans if span.attributes.get("gen_ai.operation.name") == "chat"]
    assert llm.name.startswith("chat ") and llm.attributes["gen_ai.request.model"]
    assert llm.attributes["gen_ai.usage.output_tokens"] > 0 and llm.attributes["gen_ai.usage.input_tokens"] > 0
    assert llm.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert llm.attributes["parley.gen_ai.time_to_first_token_ms"] >= 0 and "gen_ai.first_token" in llm.events
    systems = {span.attributes.get("db.system") or span.attributes.get("db.system.name") for span in spans}
    assert {"postgresql", "redis"} <= systems, systems
    assert {span.service for span in spans} == {"parley-api"}

    lines = [json.loads(line) for line in traced_server.log().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "chat.reply" and line.get("trace_id") == trace_id for line in lines)


def test_on_the_embedded_default_the_chat_trace_holds_its_sqlite_statements(tmp_path: Path, receiver: Receiver) -> None:
    for server in running_server(
        tmp_path,
        PARLEY_REQUIRE_VERIFIED_EMAIL="false",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
    ):
        _chat(server.url)

        def chat_trace(spans: list[Span]) -> list[Span] | None:
            for span in spans:
                if span.name == "POST /api/chat":
                    same = [other for other in spans if other.trace_id == span.trace_id]
                    if any(other.attributes.get("db.system") == "sqlite" for other in same):
                        return same
            return None

        spans = receiver.wait_for(chat_trace)
        statements = [span for span in spans if span.attributes.get("db.system") == "sqlite"]
        assert any("messages" in str(span.attributes.get("db.statement", "")) for span in statements), [
            span.name for span in statements
        ]
        assert all("Hello, traces!" not in str(span.attributes) for span in statements)


def test_without_an_endpoint_tracing_stays_off(tmp_path: Path) -> None:
    for server in running_server(tmp_path, PARLEY_REQUIRE_VERIFIED_EMAIL="false", PARLEY_LOG_FORMAT="json"):
        _chat(server.url)
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        assert any(line.get("event") == "chat.reply" for line in lines)
        assert all("trace_id" not in line for line in lines)


def test_a_job_continues_the_trace_of_the_request_that_wrote_its_outbox_message(
    traced_server: ServerProcess, receiver: Receiver
) -> None:
    email = f"grace-{uuid.uuid4().hex[:8]}@example.com"
    signup = httpx.post(f"{traced_server.url}/api/auth/signup", json={"email": email, "password": PASSWORD})
    assert signup.status_code == 202  # its verification email is a job, written with the account

    def signup_and_its_job(spans: list[Span]) -> tuple[Span, Span] | None:
        for request in (span for span in spans if span.name == "POST /api/auth/signup"):
            jobs = [span for span in spans if span.name == "job run_job" and span.trace_id == request.trace_id]
            if jobs:
                return request, jobs[0]
        return None

    request, job = receiver.wait_for(signup_and_its_job)
    assert job.trace_id == request.trace_id and job.kind == 5  # SPAN_KIND_CONSUMER
