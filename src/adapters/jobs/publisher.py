"""Publishes outbox messages to Dramatiq as `run_job(<outbox id>)` messages."""

from __future__ import annotations

import asyncio
from uuid import UUID

import dramatiq

from adapters.jobs.dramatiq_broker import RUN_JOB_ACTOR


class DramatiqPublisher:
    def __init__(self, broker: dramatiq.Broker, queue_name: str) -> None:
        self._broker = broker
        self._queue_name = queue_name

    async def publish(self, message_id: UUID, topic: str) -> None:
        message: dramatiq.Message[None] = dramatiq.Message(
            queue_name=self._queue_name,
            actor_name=RUN_JOB_ACTOR,
            args=(str(message_id),),
            kwargs={},
            options={"topic": topic},
        )
        await asyncio.to_thread(self._broker.enqueue, message)
