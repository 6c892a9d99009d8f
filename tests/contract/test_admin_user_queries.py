"""What the admin reads and changes about accounts, on every store (memory, SQLite, PostgreSQL): a disabled
account reads back disabled (through the request's principal lookup too: test_principal_lookup.py), the user search
filters and pages the same way everywhere, and last activity is the latest session opened or refreshed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from application.identity.ports import IdentityUnitOfWork
from domain.identity.model import Role, User
from domain.identity.ports import UserQuery
from tests.contract.test_identity_repositories import T0, a_session, a_user, stored_user

UowFactory = Callable[[], IdentityUnitOfWork]
EVERYONE = UserQuery()


async def _users(uow_factory: UowFactory, query: UserQuery, limit: int = 10, before: User | None = None) -> list[str]:
    async with uow_factory() as uow:
        found = await uow.users.search(query, limit, None if before is None else (before.created_at, before.id))
    return [user.email for user in found]


async def test_a_disabled_user_reads_back_disabled_and_enabled_again(uow_factory: UowFactory) -> None:
    user = await stored_user(uow_factory, a_user())
    user.disable(T0 + timedelta(hours=1))
    async with uow_factory() as uow:
        await uow.users.update(user)
        await uow.commit()
    async with uow_factory() as uow:
        disabled = await uow.users.get(user.id)
    assert disabled is not None and disabled.disabled_at == T0 + timedelta(hours=1)

    user.enable()
    async with uow_factory() as uow:
        await uow.users.update(user)
        await uow.commit()
    async with uow_factory() as uow:
        enabled = await uow.users.get(user.id)
    assert enabled is not None and not enabled.disabled


async def test_search_matches_part_of_the_email_or_name_whatever_the_case(uow_factory: UowFactory) -> None:
    await stored_user(uow_factory, a_user("ada@example.com", name="Ada Lovelace", created_at=T0))
    await stored_user(uow_factory, a_user("grace@navy.mil", name="Grace HOPPER", created_at=T0 + timedelta(1)))
    await stored_user(uow_factory, a_user("alan_t@example.com", name=None, created_at=T0 + timedelta(2)))

    assert await _users(uow_factory, UserQuery(text="EXAMPLE")) == ["alan_t@example.com", "ada@example.com"]
    assert await _users(uow_factory, UserQuery(text="hopper")) == ["grace@navy.mil"]
    assert await _users(uow_factory, UserQuery(text="n_t")) == ["alan_t@example.com"]
    assert await _users(uow_factory, UserQuery(text="%")) == []  # a wildcard is a plain character
    assert await _users(uow_factory, UserQuery(text="a_a")) == []


async def test_search_filters_plan_role_and_status_newest_first(uow_factory: UowFactory) -> None:
    await stored_user(uow_factory, a_user("a@example.com", plan="pro", created_at=T0))
    await stored_user(uow_factory, a_user("b@example.com", role=Role.ADMIN, created_at=T0 + timedelta(1)))
    await stored_user(uow_factory, a_user("c@example.com", disabled_at=T0, created_at=T0 + timedelta(2)))

    assert await _users(uow_factory, EVERYONE) == ["c@example.com", "b@example.com", "a@example.com"]
    assert await _users(uow_factory, UserQuery(plan="pro")) == ["a@example.com"]
    assert await _users(uow_factory, UserQuery(role=Role.ADMIN)) == ["b@example.com"]
    assert await _users(uow_factory, UserQuery(disabled=True)) == ["c@example.com"]
    assert await _users(uow_factory, UserQuery(disabled=False, plan="free")) == ["b@example.com"]


async def test_search_pages_by_keyset_with_ties_broken_by_id(uow_factory: UowFactory) -> None:
    users = [await stored_user(uow_factory, a_user(f"u{n}@example.com", created_at=T0)) for n in range(3)]
    newest_first = [user.email for user in sorted(users, key=lambda user: user.id.int, reverse=True)]

    first = await _users(uow_factory, EVERYONE, limit=2)
    last_of_first = next(user for user in users if user.email == first[-1])
    rest = await _users(uow_factory, EVERYONE, limit=2, before=last_of_first)

    assert first + rest == newest_first


async def test_last_activity_is_the_latest_session_opened_or_refreshed(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, a_user("ada@example.com"))
    bob = await stored_user(uow_factory, a_user("bob@example.com"))
    never = await stored_user(uow_factory, a_user("never@example.com"))
    async with uow_factory() as uow:
        await uow.sessions.add(a_session(ada, created_at=T0, rotated_at=T0 + timedelta(hours=5)))
        await uow.sessions.add(a_session(ada, created_at=T0 + timedelta(hours=1)))
        await uow.sessions.add(a_session(bob, created_at=T0 + timedelta(hours=2), revoked_at=T0 + timedelta(hours=3)))
        await uow.commit()

    async with uow_factory() as uow:
        activity = await uow.sessions.last_activity([ada.id, bob.id, never.id])
        nobody = await uow.sessions.last_activity([])

    assert activity == {ada.id: T0 + timedelta(hours=5), bob.id: T0 + timedelta(hours=2)}
    assert nobody == {}


async def test_search_never_lists_a_deleted_accounts_tombstone(uow_factory: UowFactory) -> None:
    await stored_user(uow_factory, a_user("ada@example.com", created_at=T0))
    gone = a_user("gone@example.com", plan="pro", created_at=T0 + timedelta(1))
    gone.erase(T0 + timedelta(2))
    await stored_user(uow_factory, gone)

    assert await _users(uow_factory, UserQuery()) == ["ada@example.com"]
    assert await _users(uow_factory, UserQuery(text="deleted")) == []
    assert await _users(uow_factory, UserQuery(plan="pro")) == []
