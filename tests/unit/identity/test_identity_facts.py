"""Identity's analytics facts: user.signed_up, user.verified (once), user.signed_in (a password sign-in, not a
refresh) and user.disabled (by an admin or the command line), each in the unit of work of its change; a change
that fails records none, and no fact carries an email address, a password or a token."""

from __future__ import annotations

import pytest

from adapters.memory.database import Transaction
from adapters.memory.facts import InMemoryFactLog
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application.identity.admin_users import UserChange
from application.identity.sign_in import SignInRequest
from application.identity.sign_up import SignUp, SignUpRequest
from application.shared.facts import Fact, FactKind
from tests.support.identity import PASSWORD, IdentityKit, read_link

ALICE = "alice@example.com"


def facts(kit: IdentityKit) -> list[Fact]:
    return list(InMemoryFactLog(Transaction(kit.db)).all())


def kinds(kit: IdentityKit) -> list[FactKind]:
    return [fact.kind for fact in facts(kit)]


async def test_signing_up_verifying_and_signing_in_record_their_facts(kit: IdentityKit) -> None:
    user = await kit.signed_up(ALICE)
    token = read_link(kit.mailer, "/verify-email")
    await kit.verify_email(token)
    pair = await kit.sign_in(SignInRequest(ALICE, PASSWORD))
    await kit.refresh(pair.refresh_token)  # a refresh is no sign-in

    assert sorted(kinds(kit)) == sorted([FactKind.USER_SIGNED_UP, FactKind.USER_VERIFIED, FactKind.USER_SIGNED_IN])
    assert {fact.user_id for fact in facts(kit)} == {user.id}
    assert [fact.occurred_at for fact in facts(kit)] == [kit.clock.now()] * 3
    text = repr(facts(kit))
    for secret in (ALICE, PASSWORD, token, pair.access_token, pair.refresh_token):
        assert secret not in text


async def test_a_taken_address_or_a_wrong_password_records_nothing(kit: IdentityKit) -> None:
    await kit.signed_up(ALICE)
    await kit.sign_up(SignUpRequest(email=ALICE, password=PASSWORD))
    with pytest.raises(Exception):  # noqa: B017 (InvalidCredentials)
        await kit.sign_in(SignInRequest(ALICE, "not the password at all"))

    assert kinds(kit) == [FactKind.USER_SIGNED_UP]


async def test_disabling_a_user_records_it_once(kit: IdentityKit) -> None:
    admin = await kit.admin("admin@example.com")
    user = await kit.signed_up(ALICE)

    await kit.change_user(admin, user.id, UserChange(disabled=True))
    await kit.change_user(admin, user.id, UserChange(disabled=True))  # already disabled: no change, no fact
    await kit.change_user.by_email(ALICE, UserChange(disabled=False))
    await kit.change_user.by_email(ALICE, UserChange(disabled=True))  # `parley users disable`

    disabled = [fact for fact in facts(kit) if fact.kind is FactKind.USER_DISABLED]
    assert [fact.user_id for fact in disabled] == [user.id, user.id]


class CommitFails(InMemoryUnitOfWork):
    async def commit(self) -> None:
        raise RuntimeError("the database went away at commit")


async def test_a_sign_up_whose_unit_of_work_fails_records_no_fact(kit: IdentityKit) -> None:
    sign_up = SignUp(lambda: CommitFails(kit.db), kit.hasher, kit.denylist, kit.clock)

    with pytest.raises(RuntimeError):
        await sign_up(SignUpRequest(email=ALICE, password=PASSWORD))

    assert facts(kit) == [] and await kit.stored_user(ALICE) is None
