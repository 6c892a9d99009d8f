"""Admins list, inspect and change accounts: disabling one ends every session and key at once and keeps it
from signing in until it is enabled again; every change is in the audit log, written with it."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from application.identity.admin_users import UserChange
from application.identity.dto import Principal
from application.shared import audit
from application.shared.audit import AuditQuery
from domain.identity.errors import AccountDisabled, CannotChangeSelf, Forbidden, Unauthenticated
from domain.identity.model import Role
from domain.identity.ports import UserQuery
from domain.shared.errors import InvalidInput, NotFound
from tests.support.identity import IdentityKit

ROOT = "root@example.com"
ADA = "ada@example.com"
BOB = "bob@example.com"
ALL_USERS = UserQuery()


@pytest.fixture
async def root(kit: IdentityKit) -> Principal:
    return await kit.admin(ROOT)


async def test_disabling_revokes_sessions_and_keys_and_signin_says_account_disabled(
    kit: IdentityKit, root: Principal
) -> None:
    ada = await kit.signed_up_and_verified(ADA)
    tokens = await kit.signed_in(ADA)
    key = await kit.create_api_key(await kit.authenticate(tokens.access_token), "laptop")

    changed = await kit.change_user(root, ada.id, UserChange(disabled=True))

    assert changed.user.disabled
    for credential in (tokens.access_token, key.key):
        with pytest.raises(Unauthenticated):
            await kit.authenticate(credential)
    with pytest.raises(Unauthenticated):
        await kit.refresh(tokens.refresh_token)
    with pytest.raises(AccountDisabled):
        await kit.signed_in(ADA)


async def test_enabling_lets_the_user_sign_in_again_but_old_tokens_stay_dead(kit: IdentityKit, root: Principal) -> None:
    ada = await kit.signed_up_and_verified(ADA)
    old = await kit.signed_in(ADA)
    await kit.change_user(root, ada.id, UserChange(disabled=True))

    enabled = await kit.change_user(root, ada.id, UserChange(disabled=False))

    assert not enabled.user.disabled
    assert (await kit.principal(ADA)).user.id == ada.id
    with pytest.raises(Unauthenticated):
        await kit.authenticate(old.access_token)


async def test_each_change_is_audit_logged_with_the_admin_as_actor(kit: IdentityKit, root: Principal) -> None:
    ada = await kit.signed_up_and_verified(ADA)
    await kit.signed_in(ADA)
    await kit.change_user(root, ada.id, UserChange(role=Role.ADMIN, disabled=True))
    await kit.change_user(root, ada.id, UserChange(disabled=False))

    page = await kit.list_audit(root, AuditQuery(target_id=ada.id))

    assert [entry.action for entry in page.items] == [audit.USER_ENABLED, audit.USER_DISABLED, audit.USER_ROLE_CHANGED]
    assert {entry.actor_id for entry in page.items} == {root.user.id}
    assert page.items[1].details == {"sessions_revoked": 1, "api_keys_revoked": 0}
    assert page.items[2].details == {"previous_role": "user", "role": "admin"}


async def test_a_change_to_nothing_new_leaves_no_audit_entry(kit: IdentityKit, root: Principal) -> None:
    ada = await kit.signed_up_and_verified(ADA)
    await kit.change_user(root, ada.id, UserChange(role=Role.USER, disabled=False))
    assert (await kit.list_audit(root, AuditQuery(target_id=ada.id))).items == []


async def test_an_admin_cannot_disable_or_demote_themselves(kit: IdentityKit, root: Principal) -> None:
    for change in (UserChange(disabled=True), UserChange(role=Role.USER)):
        with pytest.raises(CannotChangeSelf):
            await kit.change_user(root, root.user.id, change)
    stored = await kit.stored_user(ROOT)
    assert stored is not None and stored.role is Role.ADMIN and not stored.disabled


async def test_an_unknown_user_is_not_found(kit: IdentityKit, root: Principal) -> None:
    with pytest.raises(NotFound):
        await kit.change_user(root, UUID(int=1), UserChange(disabled=True))
    with pytest.raises(NotFound):
        await kit.get_user(root, UUID(int=1))


async def test_only_admins_may_use_the_admin_use_cases(kit: IdentityKit, root: Principal) -> None:
    await kit.signed_up_and_verified(ADA)
    ada = await kit.principal(ADA)
    with pytest.raises(Forbidden):
        await kit.list_users(ada, ALL_USERS)
    with pytest.raises(Forbidden):
        await kit.get_user(ada, root.user.id)
    with pytest.raises(Forbidden):
        await kit.change_user(ada, root.user.id, UserChange(disabled=True))
    with pytest.raises(Forbidden):
        await kit.list_audit(ada, AuditQuery())


async def test_the_list_is_newest_first_filtered_and_paged(kit: IdentityKit, root: Principal) -> None:
    for email in (ADA, BOB, "carol@example.org"):
        kit.clock.advance(timedelta(minutes=1))
        await kit.signed_up_and_verified(email)
    bob = await kit.stored_user(BOB)
    assert bob is not None
    await kit.change_user(root, bob.id, UserChange(disabled=True))

    first = await kit.list_users(root, ALL_USERS, limit=2)
    second = await kit.list_users(root, ALL_USERS, limit=2, cursor=first.next_cursor)

    assert [i.user.email for i in first.items] == ["carol@example.org", BOB]
    assert [i.user.email for i in second.items] == [ADA, ROOT] and second.next_cursor is None
    emails = [i.user.email for i in (await kit.list_users(root, UserQuery(text="EXAMPLE.COM"))).items]
    assert emails == [BOB, ADA, ROOT]
    disabled = await kit.list_users(root, UserQuery(disabled=True))
    assert [i.user.email for i in disabled.items] == [BOB]
    admins = await kit.list_users(root, UserQuery(role=Role.ADMIN, disabled=False))
    assert [i.user.email for i in admins.items] == [ROOT]
    with pytest.raises(InvalidInput):
        await kit.list_users(root, ALL_USERS, limit=0)


async def test_last_active_at_is_the_latest_session_opened_or_refreshed(kit: IdentityKit, root: Principal) -> None:
    await kit.signed_up_and_verified(ADA)
    never = await kit.list_users(root, UserQuery(text="ada"))
    assert never.items[0].last_active_at is None
    tokens = await kit.signed_in(ADA)
    kit.clock.advance(timedelta(hours=2))
    await kit.refresh(tokens.refresh_token)

    found = await kit.list_users(root, UserQuery(text="ada"))

    assert found.items[0].last_active_at == kit.clock.now()


async def test_the_detail_counts_active_sessions_and_keys(kit: IdentityKit, root: Principal) -> None:
    ada = await kit.signed_up_and_verified(ADA)
    principal = await kit.principal(ADA)
    await kit.signed_in(ADA)
    await kit.create_api_key(principal, "one")
    revoked = await kit.create_api_key(principal, "two")
    await kit.revoke_api_key(principal, revoked.api_key.id)

    detail = await kit.get_user(root, ada.id)

    assert (detail.sessions, detail.api_keys, detail.user.email) == (2, 1, ADA)


async def test_the_command_line_disables_by_email_as_actor_cli(kit: IdentityKit, root: Principal) -> None:
    await kit.signed_up_and_verified(ADA)
    tokens = await kit.signed_in(ADA)

    changed = await kit.change_user.by_email(" Ada@Example.com ", UserChange(disabled=True))

    assert changed.user.disabled
    with pytest.raises(Unauthenticated):
        await kit.authenticate(tokens.access_token)
    entry = (await kit.list_audit(root, AuditQuery(action=audit.USER_DISABLED))).items[0]
    assert (entry.actor, entry.actor_id, entry.target_id) == (audit.ACTOR_CLI, None, changed.user.id)
    with pytest.raises(NotFound):
        await kit.change_user.by_email("nobody@example.com", UserChange(disabled=True))


async def test_a_credential_of_a_disabled_owner_is_refused_even_if_it_was_not_revoked(kit: IdentityKit) -> None:
    """A token issued in a race with the disable (its session not among those revoked) still answers 401."""
    await kit.signed_up_and_verified(ADA)
    tokens = await kit.signed_in(ADA)
    key = await kit.create_api_key(await kit.authenticate(tokens.access_token), "laptop")
    async with kit.uow_factory() as uow:
        user = await uow.users.get_by_email(ADA)
        assert user is not None
        user.disable(kit.clock.now())
        await uow.users.update(user)
        await uow.commit()

    for credential in (tokens.access_token, key.key):
        with pytest.raises(Unauthenticated):
            await kit.authenticate(credential)
