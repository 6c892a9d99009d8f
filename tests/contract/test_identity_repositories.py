"""One suite for identity's repositories and the unit of work, run against memory, SQLite and PostgreSQL:
what a use case stores is what it reads back, on every store, so the in-memory fake cannot drift."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from adapters.sql.unit_of_work import SqlUnitOfWork
from application.identity.ports import IdentityUnitOfWork
from application.shared.ports import OutboxMessage
from domain.identity.model import ApiKey, OneTimeToken, Role, Session, TokenPurpose, User
from domain.shared.errors import Conflict
from domain.shared.ids import new_id

UowFactory = Callable[[], IdentityUnitOfWork]

# Not UTC, with microseconds: stores must keep the instant exactly and hand back an aware datetime.
T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=timezone(timedelta(hours=2)))


def a_user(email: str = "ada@example.com", **changes: object) -> User:
    user = User(
        id=new_id(),
        email=email,
        name="Ada Lovelace",
        password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        role=Role.USER,
        plan="free",
        created_at=T0,
    )
    for field, value in changes.items():
        setattr(user, field, value)
    return user


def a_session(user: User, **changes: object) -> Session:
    session = Session(
        id=new_id(), user_id=user.id, refresh_token_hash="a" * 64, created_at=T0, expires_at=T0 + timedelta(days=30)
    )
    for field, value in changes.items():
        setattr(session, field, value)
    return session


def an_api_key(user: User, key_hash: str, **changes: object) -> ApiKey:
    key = ApiKey(id=new_id(), user_id=user.id, name="laptop", prefix="prl_abcdefgh", key_hash=key_hash, created_at=T0)
    for field, value in changes.items():
        setattr(key, field, value)
    return key


def a_token(user: User, purpose: TokenPurpose, token_hash: str) -> OneTimeToken:
    return OneTimeToken(
        id=new_id(), user_id=user.id, purpose=purpose, token_hash=token_hash, created_at=T0, expires_at=T0 + purpose.ttl
    )


async def stored_user(uow_factory: UowFactory, user: User) -> User:
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


def assert_aware(*moments: datetime | None) -> None:
    for moment in moments:
        assert moment is not None and moment.utcoffset() is not None


# --- users --------------------------------------------------------------------------------------


async def test_a_user_reads_back_with_every_field(uow_factory: UowFactory) -> None:
    user = await stored_user(uow_factory, a_user(role=Role.ADMIN, plan="pro", email_verified_at=T0 + timedelta(1)))

    async with uow_factory() as uow:
        by_id = await uow.users.get(user.id)
        by_email = await uow.users.get_by_email("ada@example.com")

    assert by_id == user
    assert by_email == user
    assert by_id is not None
    assert_aware(by_id.created_at, by_id.email_verified_at)
    assert by_id.role is Role.ADMIN


async def test_a_user_without_name_or_verification_reads_back_empty(uow_factory: UowFactory) -> None:
    user = await stored_user(uow_factory, a_user(name=None, email_verified_at=None))

    async with uow_factory() as uow:
        got = await uow.users.get(user.id)

    assert got is not None
    assert got.name is None
    assert not got.email_verified


async def test_unknown_users_are_none(uow_factory: UowFactory) -> None:
    await stored_user(uow_factory, a_user())

    async with uow_factory() as uow:
        assert await uow.users.get(new_id()) is None
        assert await uow.users.get_by_email("grace@example.com") is None


async def test_a_taken_email_is_a_conflict_and_the_first_account_stays(uow_factory: UowFactory) -> None:
    first = await stored_user(uow_factory, a_user())

    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.users.add(a_user(name="Impostor"))
            await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get_by_email("ada@example.com") == first


async def test_update_stores_the_users_current_state(uow_factory: UowFactory) -> None:
    user = await stored_user(uow_factory, a_user())

    async with uow_factory() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.name = "Countess of Lovelace"
        loaded.password_hash = "$argon2id$new"
        loaded.role = Role.ADMIN
        loaded.plan = "team"
        loaded.verify_email(T0 + timedelta(hours=1))
        await uow.users.update(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get(user.id) == loaded


async def test_an_erased_user_reads_back_deleted_and_frees_the_address(uow_factory: UowFactory) -> None:
    user = await stored_user(uow_factory, a_user(name="Ada", email_verified_at=T0))

    async with uow_factory() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.erase(T0 + timedelta(hours=1))
        await uow.users.update(loaded)
        await uow.commit()
    again = await stored_user(uow_factory, a_user())

    async with uow_factory() as uow:
        erased = await uow.users.get(user.id)
        assert await uow.users.get_by_email("ada@example.com") == again
        assert await uow.users.get_by_email(f"deleted-{user.id}@invalid") == erased
    assert erased == loaded
    assert erased is not None
    assert (erased.email, erased.name, erased.deleted) == (f"deleted-{user.id}@invalid", None, True)
    assert_aware(erased.deleted_at)
    assert (await _reloaded(uow_factory, again.id)).deleted_at is None


async def _reloaded(uow_factory: UowFactory, user_id: UUID) -> User:
    async with uow_factory() as uow:
        user = await uow.users.get(user_id)
    assert user is not None
    return user


async def test_changing_a_read_object_without_update_stores_nothing(uow_factory: UowFactory) -> None:
    user = await stored_user(uow_factory, a_user())

    async with uow_factory() as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.name = "Not saved"
        assert await uow.users.get(user.id) == user
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get(user.id) == user


async def test_a_unit_reads_its_own_uncommitted_writes(uow_factory: UowFactory) -> None:
    user = a_user()
    async with uow_factory() as uow:
        await uow.users.add(user)
        assert await uow.users.get_by_email(user.email) == user
        assert await uow.users.get(user.id) == user


async def test_concurrent_signups_for_different_addresses_all_succeed(uow_factory: UowFactory) -> None:
    emails = [f"user{n}@example.com" for n in range(5)]

    await asyncio.gather(*(sign_up(uow_factory, email) for email in emails))

    async with uow_factory() as uow:
        for email in emails:
            assert await uow.users.get_by_email(email) is not None


async def test_concurrent_signups_for_one_address_make_one_account(uow_factory: UowFactory) -> None:
    outcomes = await asyncio.gather(
        *(sign_up(uow_factory, "ada@example.com") for _ in range(3)), return_exceptions=True
    )

    created = [outcome for outcome in outcomes if isinstance(outcome, User)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert (len(created), len(refused)) == (1, 2)
    async with uow_factory() as uow:
        assert await uow.users.get_by_email("ada@example.com") == created[0]


async def sign_up(uow_factory: UowFactory, email: str) -> User:
    """The shape of the sign-up use case: read, then write, then commit, racing other units."""
    user = a_user(email)
    async with uow_factory() as uow:
        if await uow.users.get_by_email(email) is not None:
            raise Conflict()
        await uow.users.add(user)
        await uow.outbox.add(OutboxMessage(topic="welcome", payload={"user_id": str(user.id)}, created_at=T0))
        await uow.commit()
    return user


# --- transactions -------------------------------------------------------------------------------


async def test_leaving_without_commit_stores_nothing(uow_factory: UowFactory) -> None:
    user = a_user()
    session, key, token = (
        a_session(user),
        an_api_key(user, "k" * 64),
        a_token(user, TokenPurpose.VERIFY_EMAIL, "t" * 64),
    )
    message = OutboxMessage(topic="welcome", payload={}, created_at=T0)

    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.sessions.add(session)
        await uow.api_keys.add(key)
        await uow.tokens.add(token)
        await uow.outbox.add(message)

    async with uow_factory() as uow:
        assert await uow.users.get_by_email(user.email) is None
        assert await uow.sessions.get(session.id) is None
        assert await uow.api_keys.get_by_hash(key.key_hash) is None
        assert await uow.tokens.get_by_hash(token.purpose, token.token_hash) is None
        assert await uow.outbox.get(message.id) is None


async def test_rows_added_in_any_order_commit_together(uow_factory: UowFactory) -> None:
    user = a_user()
    session, key = a_session(user), an_api_key(user, "k" * 64)
    token = a_token(user, TokenPurpose.VERIFY_EMAIL, "t" * 64)

    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.api_keys.add(key)
        await uow.tokens.add(token)
        await uow.users.add(user)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get(user.id) == user
        assert await uow.sessions.get(session.id) == session
        assert await uow.api_keys.get_by_hash(key.key_hash) == key
        assert await uow.tokens.get_by_hash(token.purpose, token.token_hash) == token


async def test_an_error_inside_the_unit_rolls_it_back(uow_factory: UowFactory) -> None:
    user = a_user()

    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            await uow.users.add(user)
            raise RuntimeError("use case failed")

    async with uow_factory() as uow:
        assert await uow.users.get(user.id) is None


async def test_rollback_discards_what_came_before_it(uow_factory: UowFactory) -> None:
    discarded, kept = a_user("discarded@example.com"), a_user("kept@example.com")

    async with uow_factory() as uow:
        await uow.users.add(discarded)
        await uow.rollback()
        await uow.users.add(kept)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get(discarded.id) is None
        assert await uow.users.get(kept.id) == kept


async def test_a_unique_value_taken_meanwhile_is_a_conflict_at_commit(
    sql_uow_factory: Callable[[], SqlUnitOfWork],
) -> None:
    """What only the databases enforce (unique key hashes): the unit of work reports the clash as Conflict."""
    ada = await stored_user(sql_uow_factory, a_user())
    async with sql_uow_factory() as uow:
        await uow.api_keys.add(an_api_key(ada, "k" * 64))
        await uow.commit()

    with pytest.raises(Conflict):
        async with sql_uow_factory() as uow:
            await uow.api_keys.add(an_api_key(ada, "k" * 64))
            await uow.commit()


# --- sessions -----------------------------------------------------------------------------------


async def test_a_session_reads_back_and_its_rotation_and_revocation_are_stored(uow_factory: UowFactory) -> None:
    user = await stored_user(uow_factory, a_user())
    session = a_session(user)
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.commit()

    async with uow_factory() as uow:
        loaded = await uow.sessions.get(session.id)
        assert loaded == session
        assert loaded is not None
        assert_aware(loaded.created_at, loaded.expires_at)
        loaded.rotate("b" * 64, T0 + timedelta(minutes=5))
        loaded.revoke(T0 + timedelta(minutes=6))
        await uow.sessions.update(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.sessions.get(session.id) == loaded
        assert await uow.sessions.get(new_id()) is None


async def test_active_sessions_exclude_revoked_ones_and_other_users(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user())
    grace = await stored_user(uow_factory, a_user("grace@example.com"))
    active, other_active = a_session(ada), a_session(ada)
    revoked = a_session(ada, revoked_at=T0 + timedelta(minutes=1))
    async with uow_factory() as uow:
        for session in (active, revoked, other_active, a_session(grace)):
            await uow.sessions.add(session)
        await uow.commit()

    async with uow_factory() as uow:
        listed = await uow.sessions.list_active_for_user(ada.id)
        assert await uow.sessions.list_active_for_user(new_id()) == []

    assert sorted(listed, key=lambda s: s.id.int) == [active, other_active]


async def test_a_session_reads_together_with_its_user(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user())
    grace = await stored_user(uow_factory, a_user("grace@example.com"))
    session, graces = a_session(ada), a_session(grace)
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.sessions.add(graces)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.sessions.get_with_user(session.id) == (session, ada)
        assert await uow.sessions.get_with_user(graces.id) == (graces, grace)
        assert await uow.sessions.get_with_user(new_id()) is None


# --- API keys -----------------------------------------------------------------------------------


async def test_an_api_key_reads_together_with_its_owner(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user())
    grace = await stored_user(uow_factory, a_user("grace@example.com"))
    key, graces = an_api_key(ada, "1" * 64), an_api_key(grace, "3" * 64)
    async with uow_factory() as uow:
        await uow.api_keys.add(key)
        await uow.api_keys.add(graces)
        await uow.commit()

    async with uow_factory() as uow:
        owned = await uow.api_keys.get_with_owner(key.key_hash)
        assert owned == (key, ada)
        assert owned is not None
        assert_aware(owned[1].created_at)
        assert await uow.api_keys.get_with_owner(graces.key_hash) == (graces, grace)
        assert await uow.api_keys.get_with_owner("2" * 64) is None


async def test_an_api_key_is_found_by_its_hash_and_only_by_its_owner(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user())
    grace = await stored_user(uow_factory, a_user("grace@example.com"))
    key = an_api_key(ada, "1" * 64, last_used_at=T0 + timedelta(hours=2))
    async with uow_factory() as uow:
        await uow.api_keys.add(key)
        await uow.commit()

    async with uow_factory() as uow:
        by_hash = await uow.api_keys.get_by_hash(key.key_hash)
        assert by_hash == key
        assert by_hash is not None
        assert_aware(by_hash.created_at, by_hash.last_used_at)
        assert await uow.api_keys.get_by_hash("2" * 64) is None
        assert await uow.api_keys.get_for_user(ada.id, key.id) == key
        assert await uow.api_keys.get_for_user(grace.id, key.id) is None
        assert await uow.api_keys.get_for_user(ada.id, new_id()) is None


async def test_a_users_api_keys_list_newest_first_without_other_users_keys(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user())
    grace = await stored_user(uow_factory, a_user("grace@example.com"))
    older, newer = an_api_key(ada, "1" * 64), an_api_key(ada, "2" * 64)
    async with uow_factory() as uow:
        for key in (newer, an_api_key(grace, "3" * 64), older):
            await uow.api_keys.add(key)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.api_keys.list_for_user(ada.id) == [newer, older]


async def test_a_revoked_api_key_stays_revoked(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user())
    key = an_api_key(ada, "1" * 64)
    async with uow_factory() as uow:
        await uow.api_keys.add(key)
        await uow.commit()

    async with uow_factory() as uow:
        loaded = await uow.api_keys.get_for_user(ada.id, key.id)
        assert loaded is not None
        loaded.revoke(T0 + timedelta(days=1))
        await uow.api_keys.update(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.api_keys.get_by_hash(key.key_hash) == loaded


# --- one-time tokens ----------------------------------------------------------------------------


async def test_a_token_is_found_by_purpose_and_hash_and_its_use_is_stored(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user())
    token = a_token(ada, TokenPurpose.RESET_PASSWORD, "r" * 64)
    async with uow_factory() as uow:
        await uow.tokens.add(token)
        await uow.commit()

    async with uow_factory() as uow:
        loaded = await uow.tokens.get_by_hash(TokenPurpose.RESET_PASSWORD, token.token_hash)
        assert loaded == token
        assert loaded is not None
        assert loaded.purpose is TokenPurpose.RESET_PASSWORD
        assert_aware(loaded.created_at, loaded.expires_at)
        assert await uow.tokens.get_by_hash(TokenPurpose.VERIFY_EMAIL, token.token_hash) is None
        assert await uow.tokens.get_by_hash(TokenPurpose.RESET_PASSWORD, "x" * 64) is None
        loaded.use(T0 + timedelta(minutes=10))
        await uow.tokens.update(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        used = await uow.tokens.get_by_hash(TokenPurpose.RESET_PASSWORD, token.token_hash)
    assert used == loaded
    assert used is not None
    assert used.used_at == datetime(2026, 3, 1, 10, 40, 45, 123456, tzinfo=UTC)


async def test_unused_tokens_of_a_user_are_listed_by_purpose(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user())
    first = a_token(ada, TokenPurpose.RESET_PASSWORD, "a" * 64)
    second = a_token(ada, TokenPurpose.RESET_PASSWORD, "b" * 64)
    verify = a_token(ada, TokenPurpose.VERIFY_EMAIL, "c" * 64)
    async with uow_factory() as uow:
        for token in (first, second, verify):
            await uow.tokens.add(token)
        await uow.commit()
    async with uow_factory() as uow:
        first.use(T0 + timedelta(minutes=1))
        await uow.tokens.update(first)
        await uow.commit()
    async with uow_factory() as uow:
        unused = await uow.tokens.list_unused_for_user(ada.id, TokenPurpose.RESET_PASSWORD)
    assert [t.token_hash for t in unused] == [second.token_hash]
