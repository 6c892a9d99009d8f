"""`parley users create-admin`: a new admin, or a promotion that keeps the user's password (and sessions)
unless the operator resets it; every call leaves an audit entry written with the change."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.identity.create_admin import CreateAdmin
from application.shared import audit
from domain.identity.errors import InvalidCredentials, Unauthenticated
from domain.identity.model import Role
from domain.shared.errors import InvalidInput
from tests.factories.identity import UserFactory
from tests.support.identity import PASSWORD, IdentityKit, subjects_sent_to

ALICE = "alice@example.com"
NEW_PASSWORD = "marmalade-glacier-tuba"


@pytest.fixture
def create_admin(kit: IdentityKit) -> CreateAdmin:
    return CreateAdmin(kit.uow_factory, kit.hasher, kit.denylist, kit.clock)


async def _stored_user(kit: IdentityKit, email: str = ALICE) -> None:
    async with kit.uow_factory() as uow:
        await uow.users.add(UserFactory.build(email=email, password_hash=await kit.hasher.hash(PASSWORD)))
        await uow.commit()


async def _audit(kit: IdentityKit) -> list[audit.AuditEntry]:
    async with kit.uow_factory() as uow:
        return list(await uow.audit.list(limit=100))


async def test_a_new_admin_signs_in_with_the_given_password(kit: IdentityKit, create_admin: CreateAdmin) -> None:
    result = await create_admin(" Root@Example.com ", NEW_PASSWORD)

    assert result.created
    tokens = await kit.signed_in("root@example.com", NEW_PASSWORD)
    assert tokens.user.role is Role.ADMIN and tokens.user.email_verified


async def test_a_new_admin_needs_an_acceptable_password(kit: IdentityKit, create_admin: CreateAdmin) -> None:
    for password in (None, "short", "password1234"):
        with pytest.raises(InvalidInput) as refused:
            await create_admin("root@example.com", password)
        assert refused.value.field == "password"

    assert await kit.stored_user("root@example.com") is None
    assert await _audit(kit) == []


async def test_promoting_keeps_the_password_and_the_sessions(kit: IdentityKit, create_admin: CreateAdmin) -> None:
    await _stored_user(kit)
    tokens = await kit.signed_in(ALICE)

    # Even with a password at hand (what the command used to read from stdin), a promotion does not use it.
    result = await create_admin(ALICE, NEW_PASSWORD)

    assert (await kit.signed_in(ALICE, PASSWORD)).user.role is Role.ADMIN
    with pytest.raises(InvalidCredentials):
        await kit.signed_in(ALICE, NEW_PASSWORD)
    assert (await kit.authenticate(tokens.access_token)).user.role is Role.ADMIN
    await kit.refresh(tokens.refresh_token)
    assert not result.created and not result.password_reset


async def test_a_promotion_asks_for_no_password(kit: IdentityKit, create_admin: CreateAdmin) -> None:
    await _stored_user(kit)

    assert await create_admin.needs_password("nobody@example.com")
    assert not await create_admin.needs_password(" ALICE@example.com")
    assert await create_admin.needs_password(ALICE, reset_password=True)
    assert not (await create_admin(ALICE, None)).password_reset


async def test_reset_password_replaces_it_and_revokes_every_session(
    kit: IdentityKit, create_admin: CreateAdmin
) -> None:
    await _stored_user(kit)
    sessions = [await kit.signed_in(ALICE), await kit.signed_in(ALICE)]

    result = await create_admin(ALICE, NEW_PASSWORD, reset_password=True)

    assert result.password_reset and result.sessions_revoked == 2
    for tokens in sessions:
        with pytest.raises(Unauthenticated):
            await kit.authenticate(tokens.access_token)
        with pytest.raises(Unauthenticated):
            await kit.refresh(tokens.refresh_token)
    with pytest.raises(InvalidCredentials):
        await kit.signed_in(ALICE, PASSWORD)
    assert (await kit.signed_in(ALICE, NEW_PASSWORD)).user.role is Role.ADMIN
    await kit.run_jobs()
    assert subjects_sent_to(kit.mailer, ALICE)[-1] == "password_changed"


async def test_a_refused_reset_changes_nothing(kit: IdentityKit, create_admin: CreateAdmin) -> None:
    await _stored_user(kit)
    tokens = await kit.signed_in(ALICE)

    with pytest.raises(InvalidInput):
        await create_admin(ALICE, "short", reset_password=True)

    assert (await kit.authenticate(tokens.access_token)).user.role is Role.USER
    assert await _audit(kit) == []


async def test_every_call_is_audit_logged_as_the_command_line(kit: IdentityKit, create_admin: CreateAdmin) -> None:
    created = await create_admin("root@example.com", NEW_PASSWORD)
    await _stored_user(kit)
    await kit.signed_in(ALICE)
    kit.clock.advance(timedelta(seconds=1))
    promoted = await create_admin(ALICE, NEW_PASSWORD, reset_password=True)

    entries = await _audit(kit)

    assert [(e.action, e.target_id) for e in entries] == [
        (audit.USER_PASSWORD_RESET, promoted.user_id),
        (audit.USER_PROMOTED, promoted.user_id),
        (audit.USER_CREATED_ADMIN, created.user_id),
    ]
    assert all(e.actor == audit.ACTOR_CLI and e.actor_id is None for e in entries)
    assert entries[0].details == {"sessions_revoked": 1}
    assert entries[1].details == {"previous_role": "user"}
    assert entries[1].created_at == kit.clock.now()
    assert NEW_PASSWORD not in repr(entries) and PASSWORD not in repr(entries)
