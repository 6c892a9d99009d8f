from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from application.identity.credentials import replace_password
from application.identity.ports import IdentityUnitOfWork
from application.shared import audit
from application.shared.audit import AuditEntry
from domain.identity.model import Role, User, check_password, normalize_email
from domain.identity.ports import PasswordDenylist, PasswordHasher
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput
from domain.shared.ids import new_id

log = logging.getLogger("parley.auth")


@dataclass(frozen=True, slots=True)
class AdminResult:
    user_id: UUID
    created: bool
    password_reset: bool = False
    sessions_revoked: int = 0


class CreateAdmin:
    """Operator command (`parley users create-admin`): make EMAIL a verified admin (the operator vouches for
    the address). A new account takes `password`. An existing one is promoted and keeps its password, unless
    `reset_password`: then it takes `password`, every session and reset link of the user is revoked and they
    are told by email. Each call is audit-logged (actor "cli") in the transaction of the change."""

    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        hasher: PasswordHasher,
        denylist: PasswordDenylist,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._denylist = denylist
        self._clock = clock

    async def needs_password(self, email: str, *, reset_password: bool = False) -> bool:
        """Whether a call for EMAIL will use a password, so that the command asks for one only then."""
        address = normalize_email(email)
        async with self._uow_factory() as uow:
            return reset_password or await uow.users.get_by_email(address) is None

    async def __call__(self, email: str, password: str | None, *, reset_password: bool = False) -> AdminResult:
        address = normalize_email(email)
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await uow.users.get_by_email(address)
            if user is None:
                result = await self._create(uow, address, self._checked(password), now)
            else:
                result = await self._promote(uow, user, self._checked(password) if reset_password else None, now)
            await uow.commit()
        event = "auth.admin_created" if result.created else "auth.admin_promoted"
        log.info(event, extra={"user_id": str(result.user_id), "password_reset": result.password_reset})
        return result

    def _checked(self, password: str | None) -> str:
        if password is None:
            raise InvalidInput("password", "Give the password on standard input.")
        check_password(password, self._denylist)
        return password

    async def _create(self, uow: IdentityUnitOfWork, email: str, password: str, now: datetime) -> AdminResult:
        user = User(
            id=new_id(),
            email=email,
            name=None,
            password_hash=await self._hasher.hash(password),
            role=Role.ADMIN,
            plan="free",
            created_at=now,
            email_verified_at=now,
        )
        await uow.users.add(user)
        await self._record(uow, audit.USER_CREATED_ADMIN, user, now, {})
        return AdminResult(user_id=user.id, created=True)

    async def _promote(self, uow: IdentityUnitOfWork, user: User, password: str | None, now: datetime) -> AdminResult:
        await self._record(uow, audit.USER_PROMOTED, user, now, {"previous_role": user.role.value})
        user.role = Role.ADMIN
        user.verify_email(now)
        revoked = 0 if password is None else await self._reset_password(uow, user, password, now)
        await uow.users.update(user)
        return AdminResult(
            user_id=user.id, created=False, password_reset=password is not None, sessions_revoked=revoked
        )

    async def _reset_password(self, uow: IdentityUnitOfWork, user: User, password: str, now: datetime) -> int:
        """The new password, and nothing of the old credentials left alive: sessions, reset links."""
        revoked = await replace_password(uow, user, await self._hasher.hash(password), now)
        await self._record(uow, audit.USER_PASSWORD_RESET, user, now, {"sessions_revoked": revoked})
        return revoked

    @staticmethod
    async def _record(
        uow: IdentityUnitOfWork, action: str, user: User, now: datetime, details: Mapping[str, Any]
    ) -> None:
        await uow.audit.record(AuditEntry(action=action, target_id=user.id, created_at=now, details=details))
