"""Identity repositories over SQL: Core statements on the unit's transaction, with explicit mappers between
rows and the domain's dataclasses.

Every read returns a fresh domain object and every write copies one in, so a caller changes stored
state only through `add` and `update`, exactly as with the in-memory adapters. Statements are built once,
with named parameters, so each run is a compiled-cache hit (and, on PostgreSQL, a prepared statement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import Row, Select, bindparam, func, insert, or_, select, tuple_, update

from adapters.sql.tables import api_keys, one_time_tokens, sessions, users
from adapters.sql.transaction import SqlTransaction, update_parameters
from domain.identity.model import ApiKey, OneTimeToken, Role, Session, TokenPurpose, User
from domain.identity.ports import UserQuery
from domain.shared.errors import Conflict

# --- mappers ------------------------------------------------------------------------------------


def user_values(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "password_hash": user.password_hash,
        "role": user.role.value,
        "plan": user.plan,
        "created_at": user.created_at,
        "email_verified_at": user.email_verified_at,
        "deleted_at": user.deleted_at,
        "disabled_at": user.disabled_at,
    }


class UserColumns(Protocol):
    """The columns of `users` as attributes: a row of the table, or a joined row's `u_` columns."""

    @property
    def id(self) -> UUID: ...
    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def password_hash(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def plan(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def email_verified_at(self) -> datetime | None: ...
    @property
    def deleted_at(self) -> datetime | None: ...
    @property
    def disabled_at(self) -> datetime | None: ...


def user_from_row(row: UserColumns) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        password_hash=row.password_hash,
        role=Role(row.role),
        plan=row.plan,
        created_at=row.created_at,
        email_verified_at=row.email_verified_at,
        deleted_at=row.deleted_at,
        disabled_at=row.disabled_at,
    )


def session_values(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "user_id": session.user_id,
        "refresh_token_hash": session.refresh_token_hash,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "rotated_at": session.rotated_at,
        "revoked_at": session.revoked_at,
    }


class Columns(Protocol):
    """A row whose columns read as attributes: SQLAlchemy's Row, or the principal lookup's view of a record."""

    def __getattr__(self, name: str) -> Any: ...


def owner_from_row(row: Columns) -> User:
    """The user's columns of a joined row (labelled `u_<column>`: see `_with_user`)."""
    return user_from_row(_Unprefixed(row))


class _Unprefixed:
    __slots__ = ("_row",)

    def __init__(self, row: Columns) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, f"u_{name}")


def session_from_row(row: Columns) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        refresh_token_hash=row.refresh_token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        rotated_at=row.rotated_at,
        revoked_at=row.revoked_at,
    )


def api_key_values(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "user_id": key.user_id,
        "name": key.name,
        "prefix": key.prefix,
        "key_hash": key.key_hash,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


def api_key_from_row(row: Columns) -> ApiKey:
    return ApiKey(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        key_hash=row.key_hash,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def token_values(token: OneTimeToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "user_id": token.user_id,
        "purpose": token.purpose.value,
        "token_hash": token.token_hash,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "used_at": token.used_at,
    }


def token_from_row(row: Row[Any]) -> OneTimeToken:
    return OneTimeToken(
        id=row.id,
        user_id=row.user_id,
        purpose=TokenPurpose(row.purpose),
        token_hash=row.token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


# --- statements ---------------------------------------------------------------------------------

_ADD_USER = insert(users)
_USER = select(users).where(users.c.id == bindparam("key"))
_USER_BY_EMAIL = select(users).where(users.c.email == bindparam("email"))
_UPDATE_USER = update(users).where(users.c.id == bindparam("key"))

_ADD_SESSION = insert(sessions)
_SESSION = select(sessions).where(sessions.c.id == bindparam("key"))
SESSION_WITH_USER = (
    select(sessions, *(column.label(f"u_{column.name}") for column in users.c))
    .join(users, users.c.id == sessions.c.user_id)
    .where(sessions.c.id == bindparam("key"))
)
_UPDATE_SESSION = update(sessions).where(sessions.c.id == bindparam("key"))
_ACTIVE_SESSIONS = (
    select(sessions)
    .where(sessions.c.user_id == bindparam("user_id"), sessions.c.revoked_at.is_(None))
    .order_by(sessions.c.id)
)

_LAST_ACTIVITY = (
    select(sessions.c.user_id, func.max(func.coalesce(sessions.c.rotated_at, sessions.c.created_at)).label("at"))
    .where(sessions.c.user_id.in_(bindparam("user_ids", expanding=True)))
    .group_by(sessions.c.user_id)
)

_ADD_API_KEY = insert(api_keys)
_API_KEY = select(api_keys).where(api_keys.c.id == bindparam("key"))
_API_KEY_BY_HASH = select(api_keys).where(api_keys.c.key_hash == bindparam("key_hash"))
API_KEY_WITH_OWNER = (
    select(api_keys, *(column.label(f"u_{column.name}") for column in users.c))
    .join(users, users.c.id == api_keys.c.user_id)
    .where(api_keys.c.key_hash == bindparam("key_hash"))
)
_UPDATE_API_KEY = update(api_keys).where(api_keys.c.id == bindparam("key"))
_API_KEYS_OF_USER = select(api_keys).where(api_keys.c.user_id == bindparam("user_id")).order_by(api_keys.c.id.desc())

_ADD_TOKEN = insert(one_time_tokens)
_TOKEN_BY_HASH = select(one_time_tokens).where(
    one_time_tokens.c.purpose == bindparam("purpose"), one_time_tokens.c.token_hash == bindparam("token_hash")
)
_UPDATE_TOKEN = update(one_time_tokens).where(one_time_tokens.c.id == bindparam("key"))
_UNUSED_TOKENS = (
    select(one_time_tokens)
    .where(
        one_time_tokens.c.user_id == bindparam("user_id"),
        one_time_tokens.c.purpose == bindparam("purpose"),
        one_time_tokens.c.used_at.is_(None),
    )
    .order_by(one_time_tokens.c.id)
)


# --- repositories -------------------------------------------------------------------------------


class SqlUserRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, user: User) -> None:
        """Inserted now, so a taken address is a Conflict here rather than an error from a later statement."""
        self._tx.write(_ADD_USER, user_values(user))
        try:
            await self._tx.flush()
        except Conflict as exc:
            raise Conflict("That email address is taken.") from exc

    async def get(self, user_id: UUID) -> User | None:
        row = (await self._tx.read(_USER, {"key": user_id})).first()
        return None if row is None else user_from_row(row)

    async def get_by_email(self, email: str) -> User | None:
        row = (await self._tx.read(_USER_BY_EMAIL, {"email": email})).first()
        return None if row is None else user_from_row(row)

    async def update(self, user: User) -> None:
        self._tx.write(_UPDATE_USER, update_parameters(user_values(user)))

    async def search(self, query: UserQuery, limit: int, before: tuple[datetime, UUID] | None = None) -> Sequence[User]:
        statement = _filtered(select(users), query)
        if before is not None:
            # A plain tuple, so each value is bound through its column's type (UTC, uuid).
            statement = statement.where(tuple_(users.c.created_at, users.c.id) < before)
        statement = statement.order_by(users.c.created_at.desc(), users.c.id.desc()).limit(limit)
        return [user_from_row(row) for row in await self._tx.read(statement)]


def _filtered(statement: Select[Any], query: UserQuery) -> Select[Any]:
    statement = statement.where(users.c.deleted_at.is_(None))  # a deleted account's tombstone is nobody's
    if query.text is not None:
        text = query.text.lower()
        statement = statement.where(
            or_(
                func.lower(users.c.email).contains(text, autoescape=True),
                func.lower(users.c.name).contains(text, autoescape=True),
            )
        )
    if query.plan is not None:
        statement = statement.where(users.c.plan == query.plan)
    if query.role is not None:
        statement = statement.where(users.c.role == query.role.value)
    if query.disabled is not None:
        column = users.c.disabled_at
        statement = statement.where(column.is_not(None) if query.disabled else column.is_(None))
    return statement


class SqlSessionRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, session: Session) -> None:
        self._tx.write(_ADD_SESSION, session_values(session))

    async def get(self, session_id: UUID) -> Session | None:
        row = (await self._tx.read(_SESSION, {"key": session_id})).first()
        return None if row is None else session_from_row(row)

    async def get_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        row = (await self._tx.read(SESSION_WITH_USER, {"key": session_id})).first()
        return None if row is None else (session_from_row(row), owner_from_row(row))

    async def update(self, session: Session) -> None:
        self._tx.write(_UPDATE_SESSION, update_parameters(session_values(session)))

    async def list_active_for_user(self, user_id: UUID) -> Sequence[Session]:
        rows = await self._tx.read(_ACTIVE_SESSIONS, {"user_id": user_id})
        return [session_from_row(row) for row in rows]

    async def last_activity(self, user_ids: Sequence[UUID]) -> Mapping[UUID, datetime]:
        if not user_ids:
            return {}
        rows = await self._tx.read(_LAST_ACTIVITY, {"user_ids": list(user_ids)})
        return {row.user_id: row.at for row in rows}


class SqlApiKeyRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, key: ApiKey) -> None:
        self._tx.write(_ADD_API_KEY, api_key_values(key))

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        row = (await self._tx.read(_API_KEY_BY_HASH, {"key_hash": key_hash})).first()
        return None if row is None else api_key_from_row(row)

    async def get_with_owner(self, key_hash: str) -> tuple[ApiKey, User] | None:
        row = (await self._tx.read(API_KEY_WITH_OWNER, {"key_hash": key_hash})).first()
        return None if row is None else (api_key_from_row(row), owner_from_row(row))

    async def get_for_user(self, user_id: UUID, key_id: UUID) -> ApiKey | None:
        row = (await self._tx.read(_API_KEY, {"key": key_id})).first()
        return None if row is None or row.user_id != user_id else api_key_from_row(row)

    async def list_for_user(self, user_id: UUID) -> Sequence[ApiKey]:
        """Newest first (ids are time-ordered)."""
        rows = await self._tx.read(_API_KEYS_OF_USER, {"user_id": user_id})
        return [api_key_from_row(row) for row in rows]

    async def update(self, key: ApiKey) -> None:
        self._tx.write(_UPDATE_API_KEY, update_parameters(api_key_values(key)))


class SqlOneTimeTokenRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, token: OneTimeToken) -> None:
        self._tx.write(_ADD_TOKEN, token_values(token))

    async def get_by_hash(self, purpose: TokenPurpose, token_hash: str) -> OneTimeToken | None:
        row = (await self._tx.read(_TOKEN_BY_HASH, {"purpose": purpose.value, "token_hash": token_hash})).first()
        return None if row is None else token_from_row(row)

    async def update(self, token: OneTimeToken) -> None:
        self._tx.write(_UPDATE_TOKEN, update_parameters(token_values(token)))

    async def list_unused_for_user(self, user_id: UUID, purpose: TokenPurpose) -> Sequence[OneTimeToken]:
        rows = await self._tx.read(_UNUSED_TOKENS, {"user_id": user_id, "purpose": purpose.value})
        return [token_from_row(row) for row in rows]
