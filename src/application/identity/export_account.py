from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from application.identity.credentials import require_session
from application.identity.dto import Principal
from application.identity.ports import IdentityUnitOfWork
from application.shared.export import AccountDataExport, picked
from domain.identity.errors import Unauthenticated

log = logging.getLogger("parley.auth")


PROFILE = "id email name email_verified role plan created_at"
"""The user as GET /api/auth/me shows them: no password hash."""


class ExportAccount:
    """Everything Parley keeps about the signed-in user, as one document: identity's profile, then each other
    context's part (conversations, usage, subscription, payments), handed in by the composition root. Only a
    signed-in session may ask (Forbidden with an API key): the document is the whole account."""

    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], parts: Sequence[AccountDataExport]) -> None:
        self._uow_factory = uow_factory
        self._parts = parts

    async def __call__(self, principal: Principal) -> dict[str, Any]:
        require_session(principal, "export your data")
        async with self._uow_factory() as uow:
            user = await uow.users.get(principal.user.id)
        if user is None:
            raise Unauthenticated()
        document: dict[str, Any] = {"profile": picked(user, PROFILE)}
        for part in self._parts:
            document.update(await part.export(user.id))
        log.info("auth.exported", extra={"user_id": str(user.id)})
        return document
