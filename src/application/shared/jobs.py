"""Running outbox jobs: the relay that publishes committed messages, and the runner actors call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from application.shared.ports import MessagePublisher, OutboxMessage, UnitOfWork
from application.shared.telemetry import NoTelemetry, Telemetry
from domain.shared.clock import Clock

log = logging.getLogger("parley.jobs")


class JobHandler(Protocol):
    """Does one kind of job. It runs its own units of work, so what it writes is committed (and visible)
    before any side effect it then has, such as an email with a link to a token it just stored."""

    async def __call__(self, message: OutboxMessage) -> None: ...


class _FanOut:
    def __init__(self, handlers: tuple[JobHandler, ...]) -> None:
        self._handlers = handlers

    async def __call__(self, message: OutboxMessage) -> None:
        for handler in self._handlers:
            await handler(message)


def fan_out(*handlers: JobHandler) -> JobHandler:
    """One topic served by several contexts: each handler in turn, as one job. Should one fail, the job is
    retried and every handler runs again, so each must be idempotent."""
    return _FanOut(handlers)


class UnknownJob(Exception):
    """A message names a topic no handler serves: retrying cannot help."""


class RelayOutbox:
    """Publishes committed, unpublished outbox messages. If the broker is down nothing is marked,
    so the messages wait and go out on a later pass; a message published twice is harmless because
    the runner is idempotent."""

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], publisher: MessagePublisher, clock: Clock, batch: int = 100
    ) -> None:
        self._uow_factory = uow_factory
        self._publisher = publisher
        self._clock = clock
        self._batch = batch

    async def __call__(self) -> int:
        async with self._uow_factory() as uow:
            messages = await uow.outbox.claim_unpublished(self._batch)
            for message in messages:
                await self._publisher.publish(message.id, message.topic)
                message.published_at = self._clock.now()
                await uow.outbox.update(message)
            await uow.commit()
        return len(messages)


@dataclass(frozen=True, slots=True)
class OutboxBacklog:
    depth: int
    """Committed messages waiting to be published."""
    oldest_at: datetime | None
    """When the oldest of them was written (None when none waits)."""


class OutboxDepth:
    """How many committed messages wait to be published, and since when (metrics read at scrape time)."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self) -> OutboxBacklog:
        async with self._uow_factory() as uow:
            return OutboxBacklog(await uow.outbox.count_unpublished(), await uow.outbox.oldest_unpublished_at())


class RunJob:
    """Runs the job an outbox message describes, once: the message's row stays locked while the job runs
    (PostgreSQL `FOR UPDATE`), so a duplicate delivery waits, then finds it done and skips it. A job that
    fails is not marked done and is retried; a crash between its side effect and the mark repeats it
    (at-least-once, de-duplicated by the message id)."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        handlers: Mapping[str, JobHandler],
        clock: Clock,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._handlers = handlers
        self._clock = clock
        self._telemetry = telemetry or NoTelemetry()

    async def __call__(self, message_id: UUID) -> bool:
        """Return True if the job ran now, False if it had already been done (or never existed)."""
        async with self._uow_factory() as uow:
            message = await uow.outbox.lock(message_id)
            if message is None or message.done_at is not None:
                return False
            handler = self._handlers.get(message.topic)
            if handler is None:
                raise UnknownJob(message.topic)
            started = self._clock.monotonic()
            try:
                await handler(message)
            except BaseException:
                self._telemetry.job_finished(message.topic, self._clock.monotonic() - started, ok=False)
                raise
            self._telemetry.job_finished(message.topic, self._clock.monotonic() - started, ok=True)
            message.attempts += 1
            message.done_at = self._clock.now()
            await uow.outbox.update(message)
            await uow.commit()
        log.info("job.done", extra={"job_id": str(message_id), "topic": message.topic})
        return True
