"""Forgot-password and reset-password (API.md Identity; RELIABILITY.md A1, A2, A11)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.identity.reset_password import ResetPasswordRequest
from domain.identity.errors import InvalidCredentials, InvalidToken, Unauthenticated
from domain.identity.secrets import hash_secret
from domain.shared.errors import InvalidInput
from tests.support.identity import PASSWORD, PUBLIC_URL, IdentityKit, read_link, subjects_sent_to

ALICE = "alice@example.com"
NEW_PASSWORD = "marmalade-glacier-tuba"


async def _reset_link(kit: IdentityKit, email: str = ALICE) -> str:
    await kit.forgot_password(email)
    await kit.run_jobs()
    return read_link(kit.mailer, "/reset-password", to=email)


async def test_forgot_password_for_an_unknown_address_sends_nothing_and_answers_the_same(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    mails_before = len(kit.mailer.sent)

    await kit.forgot_password("nobody@example.com")  # no error: the same answer as for a known address
    await kit.run_jobs()

    assert len(kit.mailer.sent) == mails_before


async def test_forgot_password_emails_a_reset_link(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)

    await kit.forgot_password(" ALICE@example.com ")
    await kit.run_jobs()

    assert subjects_sent_to(kit.mailer, ALICE)[-1] == "reset_password"
    assert f"{PUBLIC_URL}/reset-password?token=" in kit.mailer.sent[-1].text
    token = read_link(kit.mailer, "/reset-password")
    assert token not in repr(kit.db.tables)
    assert any(record.token_hash == hash_secret(token) for record in kit.db.table("one_time_tokens").values())


async def test_a_reset_sets_the_new_password(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    token = await _reset_link(kit)

    await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))

    with pytest.raises(InvalidCredentials):
        await kit.signed_in(ALICE, PASSWORD)
    assert (await kit.signed_in(ALICE, NEW_PASSWORD)).user.email == ALICE


async def test_a_reset_link_works_for_an_hour(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    token = await _reset_link(kit)
    kit.clock.advance(timedelta(minutes=59, seconds=59))

    await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))

    assert (await kit.signed_in(ALICE, NEW_PASSWORD)).user.email == ALICE


async def test_a_reset_link_expires_after_an_hour(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    token = await _reset_link(kit)
    kit.clock.advance(timedelta(hours=1, seconds=1))

    with pytest.raises(InvalidToken):
        await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))
    assert (await kit.signed_in(ALICE, PASSWORD)).user.email == ALICE


async def test_a_reset_link_works_once(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    token = await _reset_link(kit)
    await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))

    with pytest.raises(InvalidToken):
        await kit.reset_password(ResetPasswordRequest(token=token, password="a-third-password-entirely"))
    assert (await kit.signed_in(ALICE, NEW_PASSWORD)).user.email == ALICE


@pytest.mark.parametrize("token", ["", "never-issued-token", "x" * 43])
async def test_an_unknown_reset_token_is_refused(kit: IdentityKit, token: str) -> None:
    await kit.signed_up_and_verified(ALICE)

    with pytest.raises(InvalidToken):
        await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))


async def test_a_verification_token_cannot_reset_a_password(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    verification_token = read_link(kit.mailer, "/verify-email")

    with pytest.raises(InvalidToken):
        await kit.reset_password(ResetPasswordRequest(token=verification_token, password=NEW_PASSWORD))


async def test_a_weak_new_password_is_refused_and_the_link_stays_usable(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    token = await _reset_link(kit)

    with pytest.raises(InvalidInput) as refused:
        await kit.reset_password(ResetPasswordRequest(token=token, password="password1234"))

    assert refused.value.field == "password"
    await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))
    assert (await kit.signed_in(ALICE, NEW_PASSWORD)).user.email == ALICE


async def test_a_reset_revokes_every_session_and_signs_no_one_in(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    laptop = await kit.signed_in(ALICE)
    phone = await kit.signed_in(ALICE)
    token = await _reset_link(kit)

    await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))

    for session in (laptop, phone):
        with pytest.raises(Unauthenticated):
            await kit.authenticate(session.access_token)
        with pytest.raises(Unauthenticated):
            await kit.refresh(session.refresh_token)
    assert len(kit.db.table("sessions")) == 2
    assert all(session.revoked_at is not None for session in kit.db.table("sessions").values())


async def test_a_reset_leaves_other_users_signed_in(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    await kit.signed_up_and_verified("bob@example.com")
    bob = await kit.signed_in("bob@example.com")

    await kit.reset_password(ResetPasswordRequest(token=await _reset_link(kit), password=NEW_PASSWORD))

    assert (await kit.authenticate(bob.access_token)).user.email == "bob@example.com"


async def test_a_reset_tells_the_owner_by_email(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    token = await _reset_link(kit)

    await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))
    await kit.run_jobs()

    assert subjects_sent_to(kit.mailer, ALICE) == ["verify_email", "reset_password", "password_changed"]


async def test_a_reset_link_proves_the_mailbox_of_an_unverified_user(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    token = await _reset_link(kit)

    await kit.reset_password(ResetPasswordRequest(token=token, password=NEW_PASSWORD))

    user = await kit.stored_user(ALICE)
    assert user is not None
    assert user.email_verified


async def test_a_reset_kills_every_other_reset_link(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    older = await _reset_link(kit)
    newer = await _reset_link(kit)

    await kit.reset_password(ResetPasswordRequest(token=newer, password=NEW_PASSWORD))

    with pytest.raises(InvalidToken):
        await kit.reset_password(ResetPasswordRequest(token=older, password="someone else's choice"))
    assert (await kit.signed_in(ALICE, NEW_PASSWORD)).user.email == ALICE


async def test_an_expired_older_link_does_not_block_a_reset_with_a_newer_one(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    await _reset_link(kit)
    kit.clock.advance(timedelta(hours=2))  # the first link has expired, unused
    newer = await _reset_link(kit)

    await kit.reset_password(ResetPasswordRequest(token=newer, password=NEW_PASSWORD))

    assert (await kit.signed_in(ALICE, NEW_PASSWORD)).user.email == ALICE
