"""A signed-in user edits their name and changes their password (API.md Identity: PATCH /api/auth/me,
POST /api/auth/change-password)."""

from __future__ import annotations

import pytest

from application.identity.change_password import ChangePasswordRequest
from application.identity.update_profile import UpdateProfileRequest
from domain.identity.errors import Forbidden, InvalidCredentials, Unauthenticated
from domain.shared.errors import InvalidInput
from tests.support.identity import PASSWORD, IdentityKit, subjects_sent_to

ALICE = "alice@example.com"
BOB = "bob@example.com"
NEW_PASSWORD = "marmalade-glacier-tuba"


async def test_a_user_sets_their_name_trimmed(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    alice = await kit.principal(ALICE)

    updated = await kit.update_profile(alice, UpdateProfileRequest(name="  Ada   Lovelace "))

    assert updated.name == "Ada Lovelace"
    assert (await kit.principal(ALICE)).user.name == "Ada Lovelace"


async def test_null_clears_the_name(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    alice = await kit.principal(ALICE)
    await kit.update_profile(alice, UpdateProfileRequest(name="Ada"))

    cleared = await kit.update_profile(alice, UpdateProfileRequest(name=None))

    assert cleared.name is None
    assert (await kit.principal(ALICE)).user.name is None


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 101])
async def test_a_blank_or_too_long_name_is_refused_and_the_old_one_kept(kit: IdentityKit, name: str) -> None:
    await kit.signed_up_and_verified(ALICE)
    alice = await kit.principal(ALICE)
    await kit.update_profile(alice, UpdateProfileRequest(name="Ada"))

    with pytest.raises(InvalidInput) as refused:
        await kit.update_profile(alice, UpdateProfileRequest(name=name))

    assert refused.value.field == "name"
    assert (await kit.principal(ALICE)).user.name == "Ada"


async def test_a_name_of_exactly_100_characters_is_kept(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)

    updated = await kit.update_profile(await kit.principal(ALICE), UpdateProfileRequest(name="é" * 100))

    assert updated.name == "é" * 100


async def test_an_api_key_may_set_the_name_of_its_owner_only(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    await kit.signed_up_and_verified(BOB)
    key = await kit.create_api_key(await kit.principal(ALICE), "script")

    await kit.update_profile(await kit.authenticate(key.key), UpdateProfileRequest(name="Ada"))

    assert (await kit.principal(ALICE)).user.name == "Ada"
    assert (await kit.principal(BOB)).user.name is None


async def test_changing_the_password_hands_back_a_new_session_and_ends_every_other(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    calling = await kit.signed_in(ALICE)
    other = await kit.signed_in(ALICE)
    principal = await kit.authenticate(calling.access_token)

    fresh = await kit.change_password(principal, ChangePasswordRequest(PASSWORD, NEW_PASSWORD))

    assert fresh.user.email == ALICE
    assert {fresh.access_token, fresh.refresh_token}.isdisjoint({calling.access_token, calling.refresh_token})
    for old in (calling, other):
        with pytest.raises(Unauthenticated):
            await kit.authenticate(old.access_token)
        with pytest.raises(Unauthenticated):
            await kit.refresh(old.refresh_token)
    new_principal = await kit.authenticate(fresh.access_token)
    assert new_principal.session_id not in {principal.session_id, None}
    assert (await kit.refresh(fresh.refresh_token)).user.email == ALICE


async def test_after_a_change_only_the_new_password_signs_in(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)

    await kit.change_password(await kit.principal(ALICE), ChangePasswordRequest(PASSWORD, NEW_PASSWORD))

    with pytest.raises(InvalidCredentials):
        await kit.signed_in(ALICE, PASSWORD)
    assert (await kit.signed_in(ALICE, NEW_PASSWORD)).user.email == ALICE


async def test_the_owner_is_emailed_that_the_password_changed(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    principal = await kit.principal(ALICE)
    await kit.run_jobs()
    before = subjects_sent_to(kit.mailer, ALICE)

    await kit.change_password(principal, ChangePasswordRequest(PASSWORD, NEW_PASSWORD))
    await kit.run_jobs()

    assert subjects_sent_to(kit.mailer, ALICE) == [*before, "password_changed"]


async def test_a_wrong_current_password_changes_nothing(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    tokens = await kit.signed_in(ALICE)
    principal = await kit.authenticate(tokens.access_token)
    await kit.run_jobs()
    mails_before = len(kit.mailer.sent)

    with pytest.raises(InvalidCredentials):
        await kit.change_password(principal, ChangePasswordRequest("not-the-password-at-all", NEW_PASSWORD))
    await kit.run_jobs()

    assert (await kit.authenticate(tokens.access_token)).user.email == ALICE
    assert (await kit.signed_in(ALICE, PASSWORD)).user.email == ALICE
    with pytest.raises(InvalidCredentials):
        await kit.signed_in(ALICE, NEW_PASSWORD)
    assert len(kit.mailer.sent) == mails_before


@pytest.mark.parametrize("new_password", ["short-one", "x" * 129, "1qaz2wsx3edc"])
async def test_the_new_password_follows_signup_rules(kit: IdentityKit, new_password: str) -> None:
    await kit.signed_up_and_verified(ALICE)
    tokens = await kit.signed_in(ALICE)

    with pytest.raises(InvalidInput) as refused:
        await kit.change_password(
            await kit.authenticate(tokens.access_token), ChangePasswordRequest(PASSWORD, new_password)
        )

    assert refused.value.field == "new_password"
    assert (await kit.authenticate(tokens.access_token)).user.email == ALICE
    assert (await kit.signed_in(ALICE, PASSWORD)).user.email == ALICE


async def test_an_api_key_cannot_change_the_password(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    key = await kit.create_api_key(await kit.principal(ALICE), "script")

    with pytest.raises(Forbidden):
        await kit.change_password(await kit.authenticate(key.key), ChangePasswordRequest(PASSWORD, NEW_PASSWORD))

    assert (await kit.signed_in(ALICE, PASSWORD)).user.email == ALICE
