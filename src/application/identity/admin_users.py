"""What an admin (the /api/admin routes) or an operator (`parley users`) reads and changes about accounts.

Every change is audit-logged in the unit of work that makes it: by the admin (actor "user", their id) or by the
command line (actor "cli"). Disabling an account revokes every session and API key it has in that same
transaction, so its next request is refused on every process at once, and marks it revoked in the shared cache,
so its chat streams already open end with an `account-disabled` error within seconds; enabling it lets the user
sign in again (the old tokens stay dead)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application.identity.dto import Principal
from application.identity.guards import require_admin
from application.identity.ports import IdentityUnitOfWork
from application.shared import audit
from application.shared.audit import AuditEntry
from application.shared.facts import Fact, FactKind
from application.shared.pagination import check_limit, decode_cursor, next_cursor
from application.shared.revocation import AccountRevocations
from domain.identity.errors import CannotChangeSelf
from domain.identity.model import Role, User, normalize_email
from domain.identity.ports import UserQuery
from domain.shared.clock import Clock
from domain.shared.errors import NotFound

log = logging.getLogger("parley.admin")


@dataclass(frozen=True, slots=True)
class AdminUser:
    user: User
    last_active_at: datetime | None
    """When one of the user's sessions was last opened or refreshed (None: never signed in)."""


@dataclass(frozen=True, slots=True)
class AdminUserDetail(AdminUser):
    sessions: int
    """Active sessions (not revoked, not expired)."""
    api_keys: int
    """API keys not revoked."""


@dataclass(frozen=True, slots=True)
class AdminUserPage:
    items: Sequence[AdminUser]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class UserChange:
    role: Role | None = None
    disabled: bool | None = None


class ListUsers:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(
        self, principal: Principal | None, query: UserQuery, limit: int = 20, cursor: str | None = None
    ) -> AdminUserPage:
        """`principal` is the admin asking (None: the command line, whose first page is audit-logged)."""
        if principal is not None:
            require_admin(principal)
        check_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        async with self._uow_factory() as uow:
            users = await uow.users.search(query, limit + 1, before)
            activity = await uow.sessions.last_activity([user.id for user in users[:limit]])
            if principal is None and before is None:
                await uow.audit.record(_listed(query, self._clock.now()))
                await uow.commit()
        items = [AdminUser(user, activity.get(user.id)) for user in users[:limit]]
        return AdminUserPage(items, next_cursor(users, limit, lambda user: (user.created_at, user.id)))


class GetUser:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, principal: Principal, user_id: UUID) -> AdminUserDetail:
        require_admin(principal)
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await _existing(uow, user_id)
            activity = await uow.sessions.last_activity([user.id])
            sessions = [s for s in await uow.sessions.list_active_for_user(user.id) if s.is_active(now)]
            keys = [key for key in await uow.api_keys.list_for_user(user.id) if key.revoked_at is None]
        return AdminUserDetail(user, activity.get(user.id), sessions=len(sessions), api_keys=len(keys))


class ChangeUser:
    """Change a user's role or disable/enable them. An admin may not disable or demote themselves."""

    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        clock: Clock,
        revocations: AccountRevocations | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._revocations = revocations
        """Where open chat streams learn that their user was disabled (None: nowhere)."""

    async def __call__(self, principal: Principal, user_id: UUID, change: UserChange) -> AdminUser:
        require_admin(principal)
        if user_id == principal.user.id and (change.disabled or change.role not in (None, Role.ADMIN)):
            raise CannotChangeSelf()
        async with self._uow_factory() as uow:
            user = await _existing(uow, user_id)
            return await self._apply(uow, user, change, principal.user.id)

    async def by_email(self, email: str, change: UserChange) -> AdminUser:
        """The command line's way in (`parley users disable|enable EMAIL`): audit-logged as actor "cli"."""
        async with self._uow_factory() as uow:
            user = await uow.users.get_by_email(normalize_email(email))
            if user is None:
                raise NotFound("No user has that email address.")
            return await self._apply(uow, user, change, None)

    async def _apply(self, uow: IdentityUnitOfWork, user: User, change: UserChange, actor_id: UUID | None) -> AdminUser:
        now = self._clock.now()
        entries: list[AuditEntry] = []

        def record(action: str, **details: object) -> None:
            actor = audit.ACTOR_CLI if actor_id is None else audit.ACTOR_USER
            entries.append(
                AuditEntry(
                    action=action, target_id=user.id, created_at=now, actor=actor, actor_id=actor_id, details=details
                )
            )

        if change.role is not None and change.role is not user.role:
            record(audit.USER_ROLE_CHANGED, previous_role=user.role.value, role=change.role.value)
            user.role = change.role
        if change.disabled is True and not user.disabled:
            user.disable(now)
            record(audit.USER_DISABLED, **await _revoke_access(uow, user.id, now))
            await uow.facts.record(Fact(kind=FactKind.USER_DISABLED, occurred_at=now, user_id=user.id))
        elif change.disabled is False and user.disabled:
            user.enable()
            record(audit.USER_ENABLED)
        for entry in entries:
            await uow.audit.record(entry)
        await uow.users.update(user)
        activity = await uow.sessions.last_activity([user.id])
        await uow.commit()
        if self._revocations is not None and any(e.action == audit.USER_DISABLED for e in entries):
            await self._revocations.revoke(user.id)  # the user's open chat streams end within seconds
        elif self._revocations is not None and any(e.action == audit.USER_ENABLED for e in entries):
            await self._revocations.restore(user.id)
        for entry in entries:
            log.info(entry.action, extra={"user_id": str(user.id), "actor_id": str(actor_id) if actor_id else None})
        return AdminUser(user, activity.get(user.id))


def _listed(query: UserQuery, now: datetime) -> AuditEntry:
    filters = {
        "q": query.text,
        "plan": query.plan,
        "role": query.role.value if query.role else None,
        "disabled": query.disabled,
    }
    details = {name: value for name, value in filters.items() if value is not None}
    return AuditEntry(action=audit.USERS_LISTED, target_id=None, created_at=now, details=details)


async def _existing(uow: IdentityUnitOfWork, user_id: UUID) -> User:
    user = await uow.users.get(user_id)
    if user is None:
        raise NotFound("No user has that id.")
    return user


async def _revoke_access(uow: IdentityUnitOfWork, user_id: UUID, now: datetime) -> dict[str, int]:
    """End every session and API key of the user; say how many of each were still alive."""
    sessions = await uow.sessions.list_active_for_user(user_id)
    for session in sessions:
        session.revoke(now)
        await uow.sessions.update(session)
    keys = [key for key in await uow.api_keys.list_for_user(user_id) if key.revoked_at is None]
    for key in keys:
        key.revoke(now)
        await uow.api_keys.update(key)
    return {"sessions_revoked": len(sessions), "api_keys_revoked": len(keys)}
