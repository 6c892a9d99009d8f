"""The request's principal lookup on every store (memory, SQLite, PostgreSQL, where it bypasses SQLAlchemy's
execution): a session or an API key reads back with its owner exactly as stored (the standard library's UUIDs,
aware datetimes), a revoked key and a disabled owner read back as such, and an unknown credential is None."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from uuid import UUID

import pytest

from adapters.sql.direct import KeptConnections
from adapters.sql.engine import create_engine
from adapters.sql.principals import SqlPrincipalLookup
from application.identity.authenticate import PrincipalLookup, UnitOfWorkPrincipals
from application.identity.ports import IdentityUnitOfWork
from domain.identity.model import ApiKey, Role, Session, User
from domain.identity.secrets import hash_secret
from domain.shared.ids import new_id
from tests.contract.test_identity_repositories import T0, a_session, a_user, an_api_key, assert_aware, stored_user

UowFactory = Callable[[], IdentityUnitOfWork]


@pytest.fixture
async def principals(uow_backend: str | None, uow_factory: UowFactory) -> AsyncIterator[PrincipalLookup]:
    """The lookup each store answers requests with: through a unit of work in memory, one statement in SQL."""
    if uow_backend is None:
        yield UnitOfWorkPrincipals(uow_factory)
        return
    engine = create_engine(uow_backend)
    kept = KeptConnections(engine)
    yield SqlPrincipalLookup(kept)
    await kept.aclose()
    await engine.dispose()


async def _stored(uow_factory: UowFactory, user: User, session: Session, key: ApiKey) -> None:
    await stored_user(uow_factory, user)
    async with uow_factory() as uow:
        await uow.sessions.add(session)
        await uow.api_keys.add(key)
        await uow.commit()


async def test_a_session_and_a_key_read_back_with_their_owner_as_stored(
    uow_factory: UowFactory, principals: PrincipalLookup
) -> None:
    user = a_user(role=Role.ADMIN, plan="pro", email_verified_at=T0 + timedelta(minutes=5))
    session = a_session(user, rotated_at=T0 + timedelta(hours=1))
    key = an_api_key(user, hash_secret("prl_read_back"), last_used_at=T0 + timedelta(hours=2))
    await _stored(uow_factory, user, session, key)

    by_session = await principals.session_with_user(session.id)
    by_key = await principals.api_key_with_owner(key.key_hash)

    assert by_session == (session, user) and by_key == (key, user)
    for found, owner in (by_session, by_key):
        assert type(found.id) is UUID and type(found.user_id) is UUID and type(owner.id) is UUID
        assert_aware(found.created_at, owner.created_at, owner.email_verified_at)


async def test_a_revoked_key_and_a_disabled_owner_read_back_as_such(
    uow_factory: UowFactory, principals: PrincipalLookup
) -> None:
    user = a_user(disabled_at=T0)
    session = a_session(user, revoked_at=T0 + timedelta(minutes=1))
    key = an_api_key(user, hash_secret("prl_secret"), revoked_at=T0 + timedelta(minutes=2))
    await _stored(uow_factory, user, session, key)

    by_session = await principals.session_with_user(session.id)
    by_key = await principals.api_key_with_owner(key.key_hash)

    assert by_session is not None and by_session[0].revoked_at == T0 + timedelta(minutes=1)
    assert by_session[1].disabled_at == T0
    assert by_key is not None and by_key[0].revoked_at == T0 + timedelta(minutes=2) and by_key[1].disabled


async def test_an_unknown_session_or_key_is_none(uow_factory: UowFactory, principals: PrincipalLookup) -> None:
    user = a_user()
    await _stored(uow_factory, user, a_session(user), an_api_key(user, hash_secret("prl_known")))

    assert await principals.session_with_user(new_id()) is None
    assert await principals.api_key_with_owner(hash_secret("prl_unknown")) is None
