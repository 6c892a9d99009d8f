"""Two workers sending one announcement at once on PostgreSQL (two containers, each with its own connection pool,
like two `parley worker` processes): every recipient gets exactly one email, whether the workers race through the
job runner (which locks a job's row) or run the same batch side by side past it (the delivery claim decides)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import pytest

from adapters.email.jinja import JinjaEmailRenderer
from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from application.identity import topics
from application.identity.announcement_delivery import SendAnnouncementBatch
from application.identity.announcements import NewAnnouncement
from application.identity.sign_in import SignInRequest
from application.shared.ports import EmailMessage, OutboxMessage
from domain.identity.announcement import AnnouncementStatus, Audience
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.support.app import PASSWORD, verified_user_token

pytestmark = pytest.mark.postgres
RECIPIENTS = 12
BATCH = 5


class SlowMailer(InMemoryMailer):
    """Takes a moment per email, so two workers overlap for real."""

    async def send(self, message: EmailMessage) -> None:
        await asyncio.sleep(0.005)
        await super().send(message)


@pytest.fixture
async def workers(tmp_path: Path, postgres_url: str) -> AsyncIterator[tuple[Container, Container, SlowMailer]]:
    mailer = SlowMailer()
    settings = Settings(  # type: ignore[call-arg]
        var_dir=tmp_path, secret_key="k" * 48, database_url=postgres_url, announcement_batch_size=BATCH, _env_file=None
    )
    one, two = (bootstrap(settings, mailer=mailer, hasher=Pbkdf2PasswordHasher()) for _ in range(2))
    try:
        yield one, two, mailer
    finally:
        await one.aclose()
        await two.aclose()


async def _announce(container: Container) -> UUID:
    await container.identity.create_admin("root@example.com", PASSWORD)
    for index in range(RECIPIENTS - 1):
        await verified_user_token(container, f"user{index:02}@example.com")
    admin = await container.identity.authenticate(
        (await container.identity.sign_in(SignInRequest("root@example.com", PASSWORD))).access_token
    )
    announcement = await container.identity.create_announcement(admin, NewAnnouncement("Hello", "Hi", Audience.ALL))
    assert announcement.recipients == RECIPIENTS
    return announcement.id


async def _batch_jobs(container: Container) -> list[OutboxMessage]:
    async with container.uow_factory() as uow:
        messages = await uow.outbox.claim_unpublished(1000)
    return [m for m in messages if m.topic == topics.ANNOUNCEMENT_BATCH]


async def _status(container: Container, announcement_id: UUID) -> AnnouncementStatus:
    async with container.uow_factory() as uow:
        announcement = await uow.announcements.get(announcement_id)
    assert announcement is not None
    return announcement.status


async def test_two_workers_running_the_jobs_at_once_email_each_recipient_once(
    workers: tuple[Container, Container, SlowMailer],
) -> None:
    one, two, mailer = workers
    announcement_id = await _announce(one)

    async def worker(container: Container) -> None:
        while await _status(container, announcement_id) is not AnnouncementStatus.SENT:
            for job in await _batch_jobs(container):
                await container.run_job(job.id)
            await asyncio.sleep(0)

    await asyncio.wait_for(asyncio.gather(worker(one), worker(two)), timeout=60)

    sent = [message.to for message in mailer.sent]
    assert len(sent) == len(set(sent)) == RECIPIENTS


async def test_two_workers_on_the_same_batch_past_the_job_lock_email_each_recipient_once(
    workers: tuple[Container, Container, SlowMailer],
) -> None:
    one, two, mailer = workers
    announcement_id = await _announce(one)
    senders = [
        SendAnnouncementBatch(c.uow_factory, mailer, JinjaEmailRenderer(), c.clock, "https://x.test", batch_size=BATCH)
        for c in (one, two)
    ]
    done: set[UUID] = set()

    while await _status(one, announcement_id) is not AnnouncementStatus.SENT:
        for job in [j for j in await _batch_jobs(one) if j.id not in done]:
            await asyncio.wait_for(asyncio.gather(senders[0](job), senders[1](job)), timeout=60)  # a duplicate
            done.add(job.id)

    sent = [message.to for message in mailer.sent]
    assert len(sent) == len(set(sent)) == RECIPIENTS
    assert len(done) == -(-RECIPIENTS // BATCH) + (RECIPIENTS % BATCH == 0)
