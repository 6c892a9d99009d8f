"""The one Dramatiq actor: `run_job(outbox_id)`. It receives an id, never an object, and the runner
checks what is done, so a redelivered or duplicated message does its work once."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import dramatiq
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from adapters.email.smtp import PermanentEmailError
from adapters.jobs.dramatiq_broker import RUN_JOB_ACTOR, TIME_LIMIT_MS
from adapters.telemetry.otel_context import context_of
from application.shared.jobs import UnknownJob
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.observability.tracing import tracing_enabled
from entrypoints.settings import Settings

log = logging.getLogger("parley.jobs")
_tracer = trace.get_tracer("parley.jobs")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff between attempts; after the last one the message goes to the dead letters."""

    max_retries: int = 8
    min_backoff_ms: int = 1_000
    max_backoff_ms: int = 5 * 60_000


class JobRuntime:
    """Builds, on first use and inside the worker's own event loop, the container actors run against."""

    def __init__(self, settings: Settings, broker: dramatiq.Broker, overrides: dict[str, Any] | None = None) -> None:
        self._settings = settings
        self._broker = broker
        self._overrides = overrides or {}
        self._container: Container | None = None

    async def run(self, message_id: str) -> None:
        if self._container is None:
            self._container = bootstrap(self._settings, **{**self._overrides, "broker": self._broker})
        parent = await self._trace_of(UUID(message_id)) if tracing_enabled() else None
        with _tracer.start_as_current_span("job run_job", context=parent, kind=SpanKind.CONSUMER) as span:
            span.set_attribute("parley.job.id", message_id)
            async with asyncio.timeout(TIME_LIMIT_MS / 1000):
                await self._container.run_job(UUID(message_id))

    async def _trace_of(self, message_id: UUID) -> Context | None:
        """The trace the job's outbox message was written in, to continue it (one read, only when tracing)."""
        assert self._container is not None
        async with self._container.uow_factory() as uow:
            message = await uow.outbox.get(message_id)
        return context_of(message.trace_context if message is not None else None)

    async def aclose(self) -> None:
        if self._container is not None:
            await self._container.aclose()
            self._container = None


def declare_actors(
    broker: dramatiq.Broker, queue_name: str, runtime: JobRuntime | None, retry: RetryPolicy | None = None
) -> dramatiq.Actor[Any, Any]:
    """Declare `run_job` on the broker (declaring its queue too). Producers pass runtime=None: they only
    enqueue, so the actor body is never called in their process."""

    retry = retry or RetryPolicy()

    async def run_job(message_id: str) -> None:
        if runtime is None:
            raise RuntimeError("this process only publishes jobs")
        await runtime.run(message_id)

    declare = dramatiq.actor(
        broker=broker,
        actor_name=RUN_JOB_ACTOR,
        queue_name=queue_name,
        max_retries=retry.max_retries,
        min_backoff=retry.min_backoff_ms,
        max_backoff=retry.max_backoff_ms,
        time_limit=TIME_LIMIT_MS + 5_000,
        throws=(UnknownJob, PermanentEmailError),
    )
    return declare(run_job)
