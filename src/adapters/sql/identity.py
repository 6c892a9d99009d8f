"""Identity repositories over SQL, with explicit mappers between rows and the domain's dataclasses.

Every read returns a fresh domain object and every write copies one in, so a caller changes stored
state only through `add` and `update`, exactly as with the in-memory adapters.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from adapters.sql.engine import is_unique_violation
from adapters.sql.tables import ApiKeyRow, OneTimeTokenRow, SessionRow, UserRow
from domain.identity.model import ApiKey, OneTimeToken, Role, Session, TokenPurpose, User
from domain.shared.errors import Conflict

# --- mappers ------------------------------------------------------------------------------------


def user_to_row(user: User) -> UserRow:
    return UserRow(
        id=user.id,
        email=user.email,
        name=user.name,
        password_hash=user.password_hash,
        role=user.role.value,
        plan=user.plan,
        created_at=user.created_at,
        email_verified_at=user.email_verified_at,
    )


def user_from_row(row: UserRow) -> User:
    return User(
        id=row.id,
        email=row.email,
        name=row.name,
        password_hash=row.password_hash,
        role=Role(row.role),
        plan=row.plan,
        created_at=row.created_at,
        email_verified_at=row.email_verified_at,
    )


def session_to_row(session: Session) -> SessionRow:
    return SessionRow(
        id=session.id,
        user_id=session.user_id,
        refresh_token_hash=session.refresh_token_hash,
        created_at=session.created_at,
        expires_at=session.expires_at,
        rotated_at=session.rotated_at,
        revoked_at=session.revoked_at,
    )


def session_from_row(row: SessionRow) -> Session:
    return Session(
        id=row.id,
        user_id=row.user_id,
        refresh_token_hash=row.refresh_token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        rotated_at=row.rotated_at,
        revoked_at=row.revoked_at,
    )


def api_key_to_row(key: ApiKey) -> ApiKeyRow:
    return ApiKeyRow(
        id=key.id,
        user_id=key.user_id,
        name=key.name,
        prefix=key.prefix,
        key_hash=key.key_hash,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def api_key_from_row(row: ApiKeyRow) -> ApiKey:
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


def token_to_row(token: OneTimeToken) -> OneTimeTokenRow:
    return OneTimeTokenRow(
        id=token.id,
        user_id=token.user_id,
        purpose=token.purpose.value,
        token_hash=token.token_hash,
        created_at=token.created_at,
        expires_at=token.expires_at,
        used_at=token.used_at,
    )


def token_from_row(row: OneTimeTokenRow) -> OneTimeToken:
    return OneTimeToken(
        id=row.id,
        user_id=row.user_id,
        purpose=TokenPurpose(row.purpose),
        token_hash=row.token_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )


# --- repositories -------------------------------------------------------------------------------


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> None:
        """Insert now, so a taken address is a Conflict here rather than an error from a later read."""
        self._session.add(user_to_row(user))
        try:
            await self._session.flush()
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict("That email address is taken.") from exc
            raise

    async def get(self, user_id: UUID) -> User | None:
        row = await self._session.get(UserRow, user_id)
        return None if row is None else user_from_row(row)

    async def get_by_email(self, email: str) -> User | None:
        row = await self._session.scalar(select(UserRow).where(UserRow.email == email))
        return None if row is None else user_from_row(row)

    async def update(self, user: User) -> None:
        await self._session.merge(user_to_row(user))


class SqlSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, session: Session) -> None:
        self._session.add(session_to_row(session))

    async def get(self, session_id: UUID) -> Session | None:
        row = await self._session.get(SessionRow, session_id)
        return None if row is None else session_from_row(row)

    async def update(self, session: Session) -> None:
        await self._session.merge(session_to_row(session))

    async def list_active_for_user(self, user_id: UUID) -> Sequence[Session]:
        rows = await self._session.scalars(
            select(SessionRow)
            .where(SessionRow.user_id == user_id, SessionRow.revoked_at.is_(None))
            .order_by(SessionRow.id)
        )
        return [session_from_row(row) for row in rows]


class SqlApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        self._session.add(api_key_to_row(key))

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        row = await self._session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))
        return None if row is None else api_key_from_row(row)

    async def get_for_user(self, user_id: UUID, key_id: UUID) -> ApiKey | None:
        row = await self._session.get(ApiKeyRow, key_id)
        return None if row is None or row.user_id != user_id else api_key_from_row(row)

    async def list_for_user(self, user_id: UUID) -> Sequence[ApiKey]:
        """Newest first (ids are time-ordered)."""
        rows = await self._session.scalars(
            select(ApiKeyRow).where(ApiKeyRow.user_id == user_id).order_by(ApiKeyRow.id.desc())
        )
        return [api_key_from_row(row) for row in rows]

    async def update(self, key: ApiKey) -> None:
        await self._session.merge(api_key_to_row(key))


class SqlOneTimeTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: OneTimeToken) -> None:
        self._session.add(token_to_row(token))

    async def get_by_hash(self, purpose: TokenPurpose, token_hash: str) -> OneTimeToken | None:
        row = await self._session.scalar(
            select(OneTimeTokenRow).where(
                OneTimeTokenRow.purpose == purpose.value, OneTimeTokenRow.token_hash == token_hash
            )
        )
        return None if row is None else token_from_row(row)

    async def update(self, token: OneTimeToken) -> None:
        await self._session.merge(token_to_row(token))

    async def list_unused_for_user(self, user_id: UUID, purpose: TokenPurpose) -> Sequence[OneTimeToken]:
        rows = await self._session.scalars(
            select(OneTimeTokenRow)
            .where(
                OneTimeTokenRow.user_id == user_id,
                OneTimeTokenRow.purpose == purpose.value,
                OneTimeTokenRow.used_at.is_(None),
            )
            .order_by(OneTimeTokenRow.id)
        )
        return [token_from_row(row) for row in rows]
