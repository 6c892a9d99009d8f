"""The MessagePublisher port, one suite over the in-memory publisher and Dramatiq on RabbitMQ: what the relay
publishes reaches the job queue as `run_job(<outbox id>)`, and an unreachable broker raises (so the relay
leaves the message in the outbox)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from uuid import UUID

import dramatiq
import pytest
from dramatiq import Worker

from adapters.jobs.dramatiq_broker import RUN_JOB_ACTOR, create_broker
from adapters.jobs.publisher import DramatiqPublisher
from adapters.memory.publisher import InMemoryPublisher
from application.shared.ports import MessagePublisher
from domain.shared.ids import new_id


@dataclass
class Subject:
    publisher: MessagePublisher
    received: Callable[[int], list[str]]
    """Wait for `n` job ids to arrive at the consumer and return them."""
    break_broker: Callable[[], MessagePublisher]


@pytest.fixture(params=["memory", "rabbitmq"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "memory":
        memory = InMemoryPublisher()

        def broken() -> MessagePublisher:
            memory.down = True
            return memory

        yield Subject(memory, lambda n: [str(message_id) for message_id, _ in memory.published], broken)
        return
    url: str = request.getfixturevalue("rabbitmq_url")
    queue: str = request.getfixturevalue("jobs_queue")
    broker = create_broker(url)
    seen: list[str] = []
    arrived = threading.Condition()

    def run_job(message_id: str) -> None:
        with arrived:
            seen.append(message_id)
            arrived.notify_all()

    dramatiq.actor(run_job, broker=broker, actor_name=RUN_JOB_ACTOR, queue_name=queue)
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()

    def received(n: int) -> list[str]:
        with arrived:
            arrived.wait_for(lambda: len(seen) >= n, timeout=20)
            return list(seen)

    def broken() -> MessagePublisher:
        return DramatiqPublisher(create_broker("amqp://guest:guest@127.0.0.1:1/%2F"), queue)

    yield Subject(DramatiqPublisher(broker, queue), received, broken)
    await asyncio.to_thread(worker.stop)
    broker.close()


async def test_published_ids_reach_the_job_queue(subject: Subject) -> None:
    ids = [new_id() for _ in range(3)]
    for message_id in ids:
        await subject.publisher.publish(message_id, "identity.verification_email")
    got = await asyncio.to_thread(subject.received, 3)
    assert sorted(UUID(g) for g in got) == sorted(ids)


async def test_an_unreachable_broker_raises(subject: Subject) -> None:
    with pytest.raises(Exception):  # noqa: B017 - any error: the relay's job is only to not mark the message
        await subject.break_broker().publish(new_id(), "identity.verification_email")
