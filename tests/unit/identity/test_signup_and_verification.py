"""Signing up, the verification email and its link (API.md Identity; RELIABILITY.md A1, A3, A5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.identity.sign_in import SignInRequest
from application.identity.sign_up import SignUpRequest
from domain.identity.errors import InvalidCredentials, InvalidToken
from domain.identity.secrets import hash_secret
from domain.shared.errors import InvalidInput
from tests.support.identity import PASSWORD, PUBLIC_URL, IdentityKit, read_link, subjects_sent_to

ALICE = "alice@example.com"


async def test_signing_up_emails_one_verification_link(kit: IdentityKit) -> None:
    await kit.sign_up(SignUpRequest(email="  Alice@Example.com ", password=PASSWORD, name="Alice"))
    await kit.run_jobs()

    assert [(m.to, m.subject) for m in kit.mailer.sent] == [(ALICE, "verify_email")]
    assert f"{PUBLIC_URL}/verify-email?token=" in kit.mailer.sent[0].text
    user = await kit.stored_user(ALICE)
    assert user is not None
    assert user.name == "Alice"
    assert not user.email_verified


async def test_the_verification_link_verifies_the_address(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)

    verified = await kit.verify_email(read_link(kit.mailer, "/verify-email"))

    assert verified.email == ALICE
    assert verified.email_verified
    stored = await kit.stored_user(ALICE)
    assert stored is not None
    assert stored.email_verified


async def test_the_verification_token_is_stored_only_as_a_hash(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    token = read_link(kit.mailer, "/verify-email")

    [record] = kit.db.table("one_time_tokens").values()
    assert record.token_hash == hash_secret(token)
    assert token not in repr(kit.db.tables)


async def test_a_verification_link_works_once(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    token = read_link(kit.mailer, "/verify-email")
    await kit.verify_email(token)

    with pytest.raises(InvalidToken):
        await kit.verify_email(token)


async def test_a_verification_link_works_for_24_hours(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    kit.clock.advance(timedelta(hours=24) - timedelta(seconds=1))

    assert (await kit.verify_email(read_link(kit.mailer, "/verify-email"))).email_verified


async def test_a_verification_link_expires_after_24_hours(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    kit.clock.advance(timedelta(hours=24, seconds=1))

    with pytest.raises(InvalidToken):
        await kit.verify_email(read_link(kit.mailer, "/verify-email"))
    user = await kit.stored_user(ALICE)
    assert user is not None
    assert not user.email_verified


async def test_an_unknown_verification_token_is_refused(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)

    with pytest.raises(InvalidToken):
        await kit.verify_email("not-a-token-we-ever-sent")


async def test_signing_up_with_a_taken_address_answers_the_same_and_tells_the_owner(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    mails_before = len(kit.mailer.sent)

    await kit.sign_up(SignUpRequest(email="ALICE@example.com", password="someone-elses-password"))  # no error
    await kit.run_jobs()

    assert len(kit.db.table("users")) == 1
    assert [(m.to, m.subject) for m in kit.mailer.sent[mails_before:]] == [(ALICE, "account_exists")]
    assert f"{PUBLIC_URL}/forgot-password" in kit.mailer.sent[-1].text
    assert "token=" not in kit.mailer.sent[-1].text
    with pytest.raises(InvalidCredentials):
        await kit.sign_in(SignInRequest(email=ALICE, password="someone-elses-password"))
    assert (await kit.signed_in(ALICE)).user.email == ALICE


async def test_resending_verification_sends_a_new_link_that_works(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    first = read_link(kit.mailer, "/verify-email")

    await kit.resend_verification("Alice@Example.com")
    await kit.run_jobs()

    assert subjects_sent_to(kit.mailer, ALICE) == ["verify_email", "verify_email"]
    second = read_link(kit.mailer, "/verify-email")
    assert second != first
    assert (await kit.verify_email(second)).email_verified


async def test_resending_verification_to_a_verified_user_sends_nothing(kit: IdentityKit) -> None:
    await kit.signed_up_and_verified(ALICE)
    mails_before = len(kit.mailer.sent)

    await kit.resend_verification(ALICE)
    await kit.run_jobs()

    assert len(kit.mailer.sent) == mails_before


async def test_resending_verification_to_an_unknown_address_sends_nothing_and_answers_the_same(
    kit: IdentityKit,
) -> None:
    await kit.signed_up(ALICE)
    mails_before = len(kit.mailer.sent)

    await kit.resend_verification("nobody@example.com")  # no error: the same answer as for a known address
    await kit.run_jobs()

    assert len(kit.mailer.sent) == mails_before


@pytest.mark.parametrize(
    ("email", "password", "name", "field"),
    [
        ("alice.example.com", PASSWORD, None, "email"),
        ("alice@example", PASSWORD, None, "email"),
        (ALICE, "short-pass1", None, "password"),
        (ALICE, "x" * 129, None, "password"),
        (ALICE, "qwertyuiop123", None, "password"),
        (ALICE, "Password1234", None, "password"),
        (ALICE, PASSWORD, "A" * 101, "name"),
    ],
)
async def test_invalid_signup_names_the_field_and_stores_nothing(
    kit: IdentityKit, email: str, password: str, name: str | None, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await kit.sign_up(SignUpRequest(email=email, password=password, name=name))
    await kit.run_jobs()

    assert refused.value.field == field
    assert not kit.db.table("users")
    assert not kit.db.table("outbox")
    assert kit.mailer.sent == []
