"""Jobs through real Dramatiq: the in-process StubBroker worker of the embedded default and RabbitMQ.
A job runs once however often it is delivered; a broker outage only delays jobs; failures end in the
dead letters with an alert."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from adapters.email.smtp import TransientEmailError
from adapters.jobs.dramatiq_broker import create_broker
from adapters.jobs.publisher import DramatiqPublisher
from adapters.memory.database import InMemoryDatabase
from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application.identity.sign_up import SignUpRequest
from application.shared.jobs import RelayOutbox
from application.shared.ports import OutboxMessage
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from entrypoints.worker.actors import JobRuntime, RetryPolicy, declare_actors

PASSWORD = "correct horse battery staple"
FAST_RETRY = RetryPolicy(max_retries=2, min_backoff_ms=10, max_backoff_ms=20)


@dataclass
class Jobs:
    container: Container
    broker: dramatiq.Broker
    worker: Worker
    queue: str
    mailer: InMemoryMailer
    db: InMemoryDatabase

    async def drain(self) -> None:
        if isinstance(self.broker, StubBroker):
            await asyncio.to_thread(self.broker.join, self.queue, timeout=20_000, fail_fast=False)
        else:
            await asyncio.to_thread(self.broker.join, self.queue, timeout=20_000)
        await asyncio.to_thread(self.worker.join)

    def outbox(self) -> list[OutboxMessage]:
        return list(self.db.table("outbox").values())


async def start_jobs(tmp_path: Path, broker: dramatiq.Broker, queue: str) -> Jobs:
    db, mailer = InMemoryDatabase(), InMemoryMailer()
    settings = Settings(var_dir=tmp_path, jobs_queue=queue, _env_file=None)  # type: ignore[call-arg]
    container = bootstrap(
        settings,
        uow_factory=lambda: InMemoryUnitOfWork(db),
        mailer=mailer,
        hasher=Pbkdf2PasswordHasher(),
        broker=broker,
    )
    declare_actors(broker, queue, JobRuntime(settings, broker, container.overrides), FAST_RETRY)
    worker = Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    return Jobs(container, broker, worker, queue, mailer, db)


@pytest.fixture
async def stub_jobs(tmp_path: Path) -> AsyncIterator[Jobs]:
    jobs = await start_jobs(tmp_path, create_broker(None), "stub-jobs")
    yield jobs
    await asyncio.to_thread(jobs.worker.stop)


async def test_a_job_runs_once_however_often_it_is_delivered(stub_jobs: Jobs) -> None:
    await stub_jobs.container.identity.sign_up(SignUpRequest("ada@example.com", PASSWORD))
    assert await stub_jobs.container.relay_outbox() == 1
    [message] = stub_jobs.outbox()
    for _ in range(3):  # the relay crashed before marking, a broker redelivered, ...
        await stub_jobs.container.publisher.publish(message.id, message.topic)
    await stub_jobs.drain()
    assert [sent.to for sent in stub_jobs.mailer.sent] == ["ada@example.com"]
    assert stub_jobs.outbox()[0].done_at is not None


async def test_failing_jobs_are_retried_then_dead_lettered_and_alerted(
    stub_jobs: Jobs, caplog: pytest.LogCaptureFixture
) -> None:
    stub_jobs.mailer.failure = TransientEmailError("451 try later")
    await stub_jobs.container.identity.sign_up(SignUpRequest("bob@example.com", PASSWORD))
    await stub_jobs.container.relay_outbox()
    with caplog.at_level(logging.ERROR, logger="parley.jobs"):
        await stub_jobs.drain()
    assert stub_jobs.mailer.attempts == 1 + FAST_RETRY.max_retries
    assert isinstance(stub_jobs.broker, StubBroker) and len(stub_jobs.broker.dead_letters) == 1
    assert [r.message for r in caplog.records if r.name == "parley.jobs"] == ["job.dead_lettered"]
    assert stub_jobs.outbox()[0].done_at is None  # still findable for a replay


async def test_a_permanent_failure_is_not_retried(stub_jobs: Jobs) -> None:
    async with stub_jobs.container.uow_factory() as uow:
        await uow.outbox.add(OutboxMessage(topic="no.such.job", payload={}, created_at=stub_jobs.container.clock.now()))
        await uow.commit()
    await stub_jobs.container.relay_outbox()
    await stub_jobs.drain()
    assert isinstance(stub_jobs.broker, StubBroker) and len(stub_jobs.broker.dead_letters) == 1


async def test_jobs_wait_in_the_outbox_while_rabbitmq_is_down(
    tmp_path: Path, rabbitmq_url: str, jobs_queue: str
) -> None:
    jobs = await start_jobs(tmp_path, create_broker(rabbitmq_url), jobs_queue)
    try:
        await jobs.container.identity.sign_up(SignUpRequest("cy@example.com", PASSWORD))
        dead_broker = create_broker("amqp://guest:guest@127.0.0.1:1/%2F")
        relay_to_nowhere = RelayOutbox(
            jobs.container.uow_factory, DramatiqPublisher(dead_broker, jobs_queue), jobs.container.clock
        )
        with pytest.raises(Exception):  # noqa: B017 - whatever pika raises for a refused connection
            await relay_to_nowhere()
        assert [m.published_at for m in jobs.outbox()] == [None]

        assert await jobs.container.relay_outbox() == 1  # the broker is back
        await jobs.drain()
        assert [sent.to for sent in jobs.mailer.sent] == ["cy@example.com"]
    finally:
        await asyncio.to_thread(jobs.worker.stop)
        jobs.broker.close()
