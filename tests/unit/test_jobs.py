"""The transactional outbox and the job runner (ARCHITECTURE.md mechanisms; RELIABILITY.md D1): nothing is sent
for a rolled-back change, nothing is lost while the broker is down, and a job delivered twice acts once."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from application.identity import topics
from application.shared.jobs import UnknownJob
from application.shared.ports import OutboxMessage
from tests.support.identity import IdentityKit, build_identity_kit


@pytest.fixture
def kit() -> IdentityKit:
    return build_identity_kit()


async def _committed(kit: IdentityKit, topic: str, payload: dict[str, str] | None = None) -> OutboxMessage:
    message = OutboxMessage(topic=topic, payload=payload or {}, created_at=kit.clock.now())
    async with kit.uow_factory() as uow:
        await uow.outbox.add(message)
        await uow.commit()
    return message


async def _verification_job(kit: IdentityKit, email: str) -> OutboxMessage:
    """An unverified user and a committed, published job to email them their link."""
    await kit.signed_up(email)
    user = await kit.stored_user(email)
    assert user is not None
    message = await _committed(kit, topics.VERIFICATION_EMAIL, {"user_id": str(user.id)})
    assert await kit.relay_outbox() == 1
    return message


async def test_a_rolled_back_unit_of_work_leaves_no_message(kit: IdentityKit) -> None:
    with contextlib.suppress(RuntimeError):
        async with kit.uow_factory() as uow:
            await uow.outbox.add(OutboxMessage(topic="anything", payload={}, created_at=kit.clock.now()))
            raise RuntimeError("the use case failed after writing its job")
    async with kit.uow_factory() as uow:
        await uow.outbox.add(OutboxMessage(topic="anything", payload={}, created_at=kit.clock.now()))

    assert await kit.relay_outbox() == 0
    assert kit.publisher.published == []


async def test_messages_are_relayed_oldest_first_and_marked_published(kit: IdentityKit) -> None:
    written = []
    for n in range(10):
        written.append(await _committed(kit, f"topic.{n}"))
        kit.clock.advance(timedelta(seconds=1))

    assert await kit.relay_outbox() == 10

    assert kit.publisher.published == [(m.id, m.topic) for m in written]
    assert all(m.published_at == kit.clock.now() for m in kit.db.table("outbox").values())
    assert await kit.relay_outbox() == 0
    assert len(kit.publisher.published) == 10


async def test_while_the_broker_is_down_nothing_is_marked_and_a_later_relay_publishes(kit: IdentityKit) -> None:
    first = await _committed(kit, "topic.first")
    second = await _committed(kit, "topic.second")
    kit.publisher.down = True

    with contextlib.suppress(ConnectionError):
        await kit.relay_outbox()

    assert all(m.published_at is None for m in kit.db.table("outbox").values())
    kit.publisher.down = False
    assert await kit.relay_outbox() == 2
    assert {message_id for message_id, _ in kit.publisher.published} == {first.id, second.id}
    assert all(m.published_at is not None for m in kit.db.table("outbox").values())


async def test_running_the_same_job_twice_sends_one_email(kit: IdentityKit) -> None:
    message = await _verification_job(kit, "alice@example.com")
    mails_before = len(kit.mailer.sent)

    assert await kit.run_job(message.id) is True
    assert await kit.run_job(message.id) is False

    assert [m.message_id for m in kit.mailer.sent[mails_before:]] == [str(message.id)]
    assert kit.db.table("outbox")[message.id].done_at == kit.clock.now()


async def test_a_job_published_twice_sends_one_email(kit: IdentityKit) -> None:
    message = await _verification_job(kit, "alice@example.com")
    mails_before = len(kit.mailer.sent)
    kit.db.table("outbox")[message.id].published_at = None  # the relay died before its commit landed
    assert await kit.relay_outbox() == 1

    ran = [await kit.run_job(message_id) for message_id, _ in kit.publisher.published if message_id == message.id]

    assert ran == [True, False]
    assert len(kit.mailer.sent) == mails_before + 1


async def test_a_job_for_an_unknown_topic_raises_unknown_job_and_stays_undone(kit: IdentityKit) -> None:
    message = await _committed(kit, "nobody.serves.this")

    with pytest.raises(UnknownJob):
        await kit.run_job(message.id)

    assert kit.db.table("outbox")[message.id].done_at is None


async def test_a_job_that_never_existed_is_skipped(kit: IdentityKit) -> None:
    ghost = OutboxMessage(topic=topics.VERIFICATION_EMAIL, payload={}, created_at=kit.clock.now())

    assert await kit.run_job(ghost.id) is False
    assert kit.mailer.sent == []
