"""The job runner tells telemetry how long each job took and whether it failed (parley_job_duration_seconds)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory.clock import FrozenClock
from adapters.memory.database import InMemoryDatabase
from adapters.memory.telemetry import RecordingTelemetry
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application.shared.jobs import RunJob
from application.shared.ports import OutboxMessage


async def test_each_job_s_duration_and_outcome_is_reported() -> None:
    database, clock, telemetry = InMemoryDatabase(), FrozenClock(), RecordingTelemetry()

    async def slow(message: OutboxMessage) -> None:
        clock.advance(timedelta(seconds=2.5))

    async def broken(message: OutboxMessage) -> None:
        clock.advance(timedelta(seconds=0.5))
        raise ConnectionError("SMTP is down")

    run = RunJob(lambda: InMemoryUnitOfWork(database), {"slow": slow, "broken": broken}, clock, telemetry)
    ok, failing = (OutboxMessage(topic=topic, payload={}, created_at=clock.now()) for topic in ("slow", "broken"))
    async with InMemoryUnitOfWork(database) as uow:
        await uow.outbox.add(ok)
        await uow.outbox.add(failing)
        await uow.commit()

    assert await run(ok.id) is True
    with pytest.raises(ConnectionError):
        await run(failing.id)
    assert await run(ok.id) is False  # already done: not run, not reported again

    assert telemetry.named("job_finished") == [
        {"topic": "slow", "seconds": 2.5, "ok": True},
        {"topic": "broken", "seconds": 0.5, "ok": False},
    ]
