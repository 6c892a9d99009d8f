"""Running a container's outbox jobs in the test, in order, until none is left (no broker, no relay)."""

from __future__ import annotations

from uuid import UUID

from entrypoints.bootstrap import Container


async def pending_jobs(container: Container, topic: str | None = None) -> list[UUID]:
    """Take the unpublished outbox messages (marked published, so each is taken once) and return their ids."""
    async with container.uow_factory() as uow:
        messages = await uow.outbox.claim_unpublished(1000)
        for message in messages:
            message.published_at = container.clock.now()
            await uow.outbox.update(message)
        await uow.commit()
    return [m.id for m in messages if topic is None or m.topic == topic]


async def run_all_jobs(container: Container, topic: str | None = None) -> int:
    """Run every pending job (and those they queue) of `topic` (None: every topic); return how many ran."""
    ran = 0
    while ids := await pending_jobs(container, topic):
        for job_id in ids:
            ran += await container.run_job(job_id)
    return ran
