"""One suite for the audit log, run against memory, SQLite and PostgreSQL: an entry reads back as written,
pages are newest first and filter by actor, target and action, and an entry lives or dies with the unit of
work that wrote it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from application.identity.ports import IdentityUnitOfWork
from application.shared import audit
from application.shared.audit import AuditEntry, AuditQuery
from domain.shared.ids import new_id
from tests.factories.audit import AuditEntryFactory
from tests.factories.identity import UserFactory

UowFactory = Callable[[], IdentityUnitOfWork]

# Not UTC, with microseconds: stores must keep the instant exactly and hand back an aware datetime.
T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=2)))


async def recorded(uow_factory: UowFactory, *entries: AuditEntry) -> list[AuditEntry]:
    async with uow_factory() as uow:
        for entry in entries:
            await uow.audit.record(entry)
        await uow.commit()
    return list(entries)


async def listed(
    uow_factory: UowFactory, limit: int = 20, before: tuple[datetime, UUID] | None = None, **filters: Any
) -> list[AuditEntry]:
    async with uow_factory() as uow:
        return list(await uow.audit.list(AuditQuery(**filters), limit, before))


async def test_an_entry_reads_back_with_every_field(uow_factory: UowFactory) -> None:
    details = {"previous_role": "user", "tokens": 5000, "reason": "Support ticket #12 ünïcode", "ids": [1, 2]}
    entry = AuditEntryFactory.build(
        actor=audit.ACTOR_USER, actor_id=new_id(), action="user.granted", details=details, created_at=T0
    )
    await recorded(uow_factory, entry)

    [got] = await listed(uow_factory)

    assert got == entry
    assert got.created_at.utcoffset() is not None
    assert dict(got.details) == details


async def test_a_command_line_entry_has_no_actor_id(uow_factory: UowFactory) -> None:
    entry = AuditEntryFactory.build(target_id=None, details={})
    await recorded(uow_factory, entry)

    [got] = await listed(uow_factory)

    assert got.actor == audit.ACTOR_CLI and got.actor_id is None and got.target_id is None and got.details == {}


async def test_entries_come_newest_first_ties_by_id(uow_factory: UowFactory) -> None:
    older = AuditEntryFactory.build(created_at=T0)
    same_time = [AuditEntryFactory.build(created_at=T0 + timedelta(seconds=1)) for _ in range(3)]
    newest = AuditEntryFactory.build(created_at=T0 + timedelta(hours=1))
    await recorded(uow_factory, same_time[1], newest, older, same_time[2], same_time[0])

    got = await listed(uow_factory)

    assert [e.id for e in got] == [newest.id, *[e.id for e in reversed(same_time)], older.id]


async def test_pages_follow_on_from_the_last_entry_of_the_previous_one(uow_factory: UowFactory) -> None:
    entries = [AuditEntryFactory.build(created_at=T0 + timedelta(seconds=i // 2)) for i in range(7)]
    await recorded(uow_factory, *entries)

    seen: list[AuditEntry] = []
    before = None
    while page := await listed(uow_factory, limit=3, before=before):
        assert len(page) <= 3
        seen.extend(page)
        before = (page[-1].created_at, page[-1].id)

    assert [e.id for e in seen] == [e.id for e in reversed(entries)]


async def test_filters_by_actor_target_and_action(uow_factory: UowFactory) -> None:
    admin, alice, bob = new_id(), new_id(), new_id()
    by_cli = AuditEntryFactory.build(target_id=alice, action=audit.USER_PROMOTED, created_at=T0)
    by_admin = AuditEntryFactory.build(
        actor=audit.ACTOR_USER, actor_id=admin, target_id=bob, action="user.disabled", created_at=T0
    )
    reset = AuditEntryFactory.build(target_id=alice, action=audit.USER_PASSWORD_RESET, created_at=T0)
    await recorded(uow_factory, by_cli, by_admin, reset)

    assert await listed(uow_factory, actor_id=admin) == [by_admin]
    assert await listed(uow_factory, target_id=alice) == [reset, by_cli]
    assert await listed(uow_factory, action=audit.USER_PROMOTED) == [by_cli]
    assert await listed(uow_factory, target_id=alice, action=audit.USER_PASSWORD_RESET) == [reset]
    assert await listed(uow_factory, actor_id=admin, target_id=alice) == []


async def test_an_entry_lives_and_dies_with_its_unit_of_work(uow_factory: UowFactory) -> None:
    user = UserFactory.build(created_at=datetime(2026, 1, 1, tzinfo=UTC))
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.audit.record(AuditEntryFactory.build(target_id=user.id))
        # left without commit: rolled back

    assert await listed(uow_factory) == []
    async with uow_factory() as uow:
        assert await uow.users.get(user.id) is None

    entry = AuditEntryFactory.build(target_id=user.id)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.audit.record(entry)
        assert await uow.audit.list() == [entry]  # the unit reads its own entry before committing
        await uow.commit()

    assert await listed(uow_factory, target_id=user.id) == [entry]


def test_an_entry_names_its_actor_only_when_a_user_acted() -> None:
    with pytest.raises(ValueError):
        AuditEntryFactory.build(actor=audit.ACTOR_USER, actor_id=None)
    with pytest.raises(ValueError):
        AuditEntryFactory.build(actor=audit.ACTOR_CLI, actor_id=new_id())
