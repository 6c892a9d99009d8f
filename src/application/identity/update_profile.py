from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from application.identity.dto import Principal
from application.identity.ports import IdentityUnitOfWork
from domain.identity.errors import Unauthenticated
from domain.identity.model import User, profile_name

log = logging.getLogger("parley.auth")


@dataclass(frozen=True, slots=True)
class UpdateProfileRequest:
    name: str | None
    """1..100 characters once trimmed (inner runs of whitespace become one space); None clears the name."""


class UpdateProfile:
    """The signed-in user edits their own profile (today: the display name). Session or API key alike."""

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, principal: Principal, request: UpdateProfileRequest) -> User:
        name = profile_name(request.name)
        async with self._uow_factory() as uow:
            user = await uow.users.get(principal.user.id)
            if user is None:
                raise Unauthenticated()
            user.name = name
            await uow.users.update(user)
            await uow.commit()
        log.info("auth.profile_updated", extra={"user_id": str(user.id)})
        return user
