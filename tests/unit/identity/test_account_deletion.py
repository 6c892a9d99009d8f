"""A signed-in user deletes their account or exports its data (API.md Identity: DELETE /api/auth/me,
GET /api/auth/me/export), identity's side: the other contexts' parts are their own tests."""

from __future__ import annotations

import pytest

from application.identity.delete_account import DeleteAccountRequest
from application.identity.reset_password import ResetPasswordRequest
from application.identity.sign_up import SignUpRequest
from application.shared import topics
from domain.identity.errors import Forbidden, InvalidCredentials, InvalidToken, Unauthenticated
from domain.identity.model import TokenPurpose
from tests.support.identity import PASSWORD, IdentityKit, read_link

ALICE = "alice@example.com"
BOB = "bob@example.com"


async def test_deleting_revokes_every_session_key_and_link_and_erases_the_address_and_name(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    await kit.signed_up_and_verified(BOB)
    calling, other = await kit.signed_in(ALICE), await kit.signed_in(ALICE)
    principal = await kit.authenticate(calling.access_token)
    key = await kit.create_api_key(principal, "script")
    await kit.forgot_password(ALICE)
    await kit.run_jobs()
    reset_token = read_link(kit.mailer, "/reset-password", to=ALICE)

    await kit.delete_account(principal, DeleteAccountRequest(PASSWORD))

    for credential in (calling.access_token, other.access_token, key.key):
        with pytest.raises(Unauthenticated):
            await kit.authenticate(credential)
    with pytest.raises(Unauthenticated):
        await kit.refresh(other.refresh_token)
    with pytest.raises(InvalidCredentials):
        await kit.signed_in(ALICE)
    async with kit.uow_factory() as uow:
        erased = await uow.users.get(principal.user.id)
        assert await uow.tokens.list_unused_for_user(principal.user.id, TokenPurpose.RESET_PASSWORD) == []
    assert erased is not None
    assert (erased.email, erased.name, erased.deleted) == (f"deleted-{erased.id}@invalid", None, True)
    with pytest.raises(InvalidToken):
        await kit.reset_password(ResetPasswordRequest(token=reset_token, password="marmalade-glacier-tuba"))
    assert (await kit.principal(BOB)).user.email == BOB


async def test_deleting_writes_one_account_deleted_message_with_the_user_id_only(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    principal = await kit.principal(ALICE)
    await kit.run_jobs()
    seen = len(kit.publisher.published)

    await kit.delete_account(principal, DeleteAccountRequest(PASSWORD))
    await kit.run_jobs()

    [(message_id, topic)] = kit.publisher.published[seen:]
    async with kit.uow_factory() as uow:
        message = await uow.outbox.get(message_id)
    assert topic == topics.ACCOUNT_DELETED
    assert message is not None
    assert dict(message.payload) == {"user_id": str(principal.user.id)}
    assert message.done_at is not None


async def test_the_address_may_sign_up_again_in_any_case(kit: IdentityKit) -> None:
    first = await kit.signed_up_and_verified(ALICE)
    await kit.delete_account(await kit.principal(ALICE), DeleteAccountRequest(PASSWORD))

    await kit.sign_up(SignUpRequest(email=ALICE.upper(), password=PASSWORD))

    again = await kit.stored_user(ALICE)
    assert again is not None and again.id != first.id
    assert (again.email, again.deleted, again.email_verified) == (ALICE, False, False)
    assert (await kit.principal(ALICE)).user.id == again.id


async def test_a_wrong_password_changes_nothing(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    principal = await kit.principal(ALICE)
    await kit.run_jobs()
    seen = len(kit.publisher.published)

    with pytest.raises(InvalidCredentials):
        await kit.delete_account(principal, DeleteAccountRequest("not-the-password-at-all"))

    assert await kit.run_jobs() == 0 and kit.publisher.published[seen:] == []
    stored = await kit.stored_user(ALICE)
    assert stored is not None and not stored.deleted
    assert (await kit.principal(ALICE)).user.id == principal.user.id


async def test_an_api_key_can_neither_delete_nor_export(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    key = await kit.create_api_key(await kit.principal(ALICE), "script")
    by_key = await kit.authenticate(key.key)

    with pytest.raises(Forbidden):
        await kit.delete_account(by_key, DeleteAccountRequest(PASSWORD))
    with pytest.raises(Forbidden):
        await kit.export_account(by_key)

    assert (await kit.authenticate(key.key)).user.email == ALICE


async def test_the_export_profile_is_the_user_without_secrets(kit: IdentityKit) -> None:
    user = await kit.signed_up_and_verified(ALICE)

    document = await kit.export_account(await kit.principal(ALICE))

    assert document["profile"] == {
        "id": user.id,
        "email": ALICE,
        "name": None,
        "email_verified": True,
        "role": "user",
        "plan": "free",
        "created_at": user.created_at,
    }
    assert {"conversations", "usage", "subscription", "payments"} <= set(document)


async def test_an_email_queued_before_the_deletion_is_never_sent(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    principal = await kit.principal(ALICE)
    await kit.run_jobs()
    sent = len(kit.mailer.sent)
    await kit.forgot_password(ALICE)

    await kit.delete_account(principal, DeleteAccountRequest(PASSWORD))
    await kit.run_jobs()

    assert kit.mailer.sent[sent:] == []
