"""In-memory identity repositories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from adapters.memory.database import TableView
from domain.identity.model import ApiKey, OneTimeToken, Session, TokenPurpose, User
from domain.identity.ports import UserQuery
from domain.shared.errors import Conflict


class InMemoryUserRepository(TableView):
    table = "users"

    async def add(self, user: User) -> None:
        if await self.get_by_email(user.email) is not None:
            raise Conflict("That email address is taken.")
        self._put(user.id, user)
        self._tx.commit_checks.append(lambda: self._unique_email_at_commit(user))

    def _unique_email_at_commit(self, user: User) -> None:
        """Like a unique index: a concurrent transaction may have committed the address meanwhile."""
        committed = self._tx.db.table(self.table).values()
        if any(other.email == user.email and other.id != user.id for other in committed):
            raise Conflict("That email address is taken.")

    async def get(self, user_id: UUID) -> User | None:
        user: User | None = self._get(user_id)
        return user

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self._rows() if u.email == email), None)

    async def update(self, user: User) -> None:
        self._put(user.id, user)

    async def search(self, query: UserQuery, limit: int, before: tuple[datetime, UUID] | None = None) -> Sequence[User]:
        found: list[User] = [
            user
            for user in self._rows()
            if _matches(user, query) and (before is None or (user.created_at, user.id.int) < (before[0], before[1].int))
        ]
        found.sort(key=lambda user: (user.created_at, user.id.int), reverse=True)
        return found[:limit]


def _matches(user: User, query: UserQuery) -> bool:
    text = None if query.text is None else query.text.lower()
    return (
        not user.deleted
        and (text is None or text in user.email.lower() or text in (user.name or "").lower())
        and (query.plan is None or user.plan == query.plan)
        and (query.role is None or user.role == query.role)
        and (query.disabled is None or user.disabled == query.disabled)
    )


class InMemorySessionRepository(TableView):
    table = "sessions"

    async def add(self, session: Session) -> None:
        self._put(session.id, session)

    async def get(self, session_id: UUID) -> Session | None:
        session: Session | None = self._get(session_id)
        return session

    async def get_with_user(self, session_id: UUID) -> tuple[Session, User] | None:
        session: Session | None = self._get(session_id)
        user: User | None = None if session is None else self._tx.get("users", session.user_id)
        return None if session is None or user is None else (session, user)

    async def update(self, session: Session) -> None:
        self._put(session.id, session)

    async def list_active_for_user(self, user_id: UUID) -> Sequence[Session]:
        return [s for s in self._rows() if s.user_id == user_id and s.revoked_at is None]

    async def last_activity(self, user_ids: Sequence[UUID]) -> Mapping[UUID, datetime]:
        wanted = set(user_ids)
        latest: dict[UUID, datetime] = {}
        for session in self._rows():
            if session.user_id in wanted:
                moment = max(session.created_at, session.rotated_at or session.created_at)
                latest[session.user_id] = max(moment, latest.get(session.user_id, moment))
        return latest


class InMemoryApiKeyRepository(TableView):
    table = "api_keys"

    async def add(self, key: ApiKey) -> None:
        self._put(key.id, key)

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self._rows() if k.key_hash == key_hash), None)

    async def get_with_owner(self, key_hash: str) -> tuple[ApiKey, User] | None:
        key = await self.get_by_hash(key_hash)
        user: User | None = None if key is None else self._tx.get("users", key.user_id)
        return None if key is None or user is None else (key, user)

    async def get_for_user(self, user_id: UUID, key_id: UUID) -> ApiKey | None:
        key: ApiKey | None = self._get(key_id)
        return key if key is not None and key.user_id == user_id else None

    async def list_for_user(self, user_id: UUID) -> Sequence[ApiKey]:
        keys = [k for k in self._rows() if k.user_id == user_id]
        return sorted(keys, key=lambda k: k.id.int, reverse=True)

    async def update(self, key: ApiKey) -> None:
        self._put(key.id, key)


class InMemoryOneTimeTokenRepository(TableView):
    table = "one_time_tokens"

    async def add(self, token: OneTimeToken) -> None:
        self._put(token.id, token)

    async def get_by_hash(self, purpose: TokenPurpose, token_hash: str) -> OneTimeToken | None:
        return next((t for t in self._rows() if t.purpose == purpose and t.token_hash == token_hash), None)

    async def update(self, token: OneTimeToken) -> None:
        self._put(token.id, token)

    async def list_unused_for_user(self, user_id: UUID, purpose: TokenPurpose) -> Sequence[OneTimeToken]:
        tokens = [t for t in self._rows() if t.user_id == user_id and t.purpose == purpose and t.used_at is None]
        return sorted(tokens, key=lambda t: t.id.int)
