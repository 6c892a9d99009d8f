"""OpenTelemetry traces, off unless an OTLP endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SDK_DISABLED=true turns them off again). The standard OTEL_* variables
configure the exporter (OTLP over HTTP, protobuf), the sampler and the resource; OTEL_SERVICE_NAME defaults to
`parley-api` or `parley-worker`.

What a trace holds: the HTTP request (the server span, named by method and route, covering a streamed reply to
its last byte), every PostgreSQL statement (asyncpg, the chat store's direct statements included), every SQLite
statement of the embedded default (through SQLAlchemy's instrumentation, on that engine only: PostgreSQL's are
already traced at the driver, once), every Redis command, and each provider call as a GenAI client span
(adapters/telemetry/otel_llm.py). Log lines written while a span is current carry its `trace_id` and `span_id`
(entrypoints/logging.py).

When tracing is off nothing is patched or wrapped: the chat path runs exactly as without this module."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.conversation.ports import LlmProvider

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_configured: dict[str, Any] = {}
_SYSTEMS = {"openai": "openai", "anthropic": "anthropic"}


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(environ.get(name, "").strip() for name in _ENDPOINT_VARIABLES)


def configure_tracing(service: str) -> bool:
    """Install the tracer provider and the driver instrumentation once per process; True if tracing is on."""
    if not tracing_enabled():
        return False
    if "provider" in _configured:
        return True
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(  # type: ignore[no-untyped-call]
        tracer_provider=provider
    )
    RedisInstrumentor().instrument(tracer_provider=provider)
    _configured["provider"] = provider
    return True


def shutdown_tracing() -> None:
    """Send what is still buffered (at the end of the process)."""
    provider = _configured.pop("provider", None)
    if provider is not None:
        provider.shutdown()


def traced_app(app: Any) -> Any:
    """The ASGI app inside a server span per request, when tracing is on."""
    if "provider" not in _configured:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware(
        app,
        excluded_urls="/health,/metrics",
        tracer_provider=_configured["provider"],
        default_span_details=_span_details,
    )


def traced_engine(engine: AsyncEngine) -> AsyncEngine:
    """A SQLite engine's statements as database spans, when tracing is on. PostgreSQL is traced by the asyncpg
    instrumentation, which also sees the chat store's direct statements; instrumenting its engine too would
    trace each statement twice. The instrumentation declares SQLAlchemy < 2.1 and Parley runs 2.1: what it uses
    (the engine's cursor events) is unchanged in 2.1, so the version check is skipped, and the tracing tests
    show the statements arrive."""
    if "provider" not in _configured or engine.dialect.name != "sqlite":
        return engine
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine,
        tracer_provider=_configured["provider"],
        enable_commenter=False,
        skip_dep_check=True,
    )
    return engine


def traced_providers(providers: dict[str, LlmProvider]) -> dict[str, LlmProvider]:
    """Each provider's calls as GenAI spans, when tracing is on."""
    if "provider" not in _configured:
        return providers
    from adapters.telemetry.otel_llm import TracedProvider

    return {name: TracedProvider(provider, _SYSTEMS.get(name, name)) for name, provider in providers.items()}


def _span_details(scope: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """`POST /api/chat`: the method and the route's template when the router has matched one, else the path
    with ids left out (the span name must not hold a conversation's or a user's id)."""
    method = str(scope.get("method", "HTTP"))
    route = scope.get("route_handler")
    template = getattr(route, "paths", None)
    path = next(iter(template)) if template else _without_ids(str(scope.get("path", "")))
    return f"{method} {path}", {"http.route": path}


def _without_ids(path: str) -> str:
    parts = ["{id}" if len(part) >= 32 and part.replace("-", "").isalnum() else part for part in path.split("/")]
    return "/".join(parts)
