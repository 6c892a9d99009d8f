from __future__ import annotations

import logging
from collections.abc import Callable

from application.identity.ports import IdentityUnitOfWork
from domain.identity.model import Role, User, check_password, normalize_email
from domain.identity.ports import PasswordDenylist, PasswordHasher
from domain.shared.clock import Clock
from domain.shared.ids import new_id

log = logging.getLogger("parley.auth")


class CreateAdmin:
    """Operator command: make EMAIL an admin with this password (verified, since an operator vouches
    for it). An existing account is promoted and its password replaced. Returns True if created."""

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

    async def __call__(self, email: str, password: str) -> bool:
        address = normalize_email(email)
        check_password(password, self._denylist)
        now = self._clock.now()
        async with self._uow_factory() as uow:
            user = await uow.users.get_by_email(address)
            created = user is None
            if user is None:
                user = User(
                    id=new_id(),
                    email=address,
                    name=None,
                    password_hash="",
                    role=Role.ADMIN,
                    plan="free",
                    created_at=now,
                )
            user.role = Role.ADMIN
            user.password_hash = self._hasher.hash(password)
            user.verify_email(now)
            await (uow.users.add(user) if created else uow.users.update(user))
            await uow.commit()
        log.info("auth.admin_created" if created else "auth.admin_promoted", extra={"user_id": str(user.id)})
        return created
