"""API keys for /v1: created (the secret shown once, stored hashed), listed, revoked."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from uuid import UUID

from application.identity.dto import CreatedApiKey, Principal
from application.identity.ports import IdentityUnitOfWork
from domain.identity.model import ApiKey
from domain.identity.secrets import hash_secret, new_api_key
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.ids import new_id

log = logging.getLogger("parley.auth")
PREFIX_LENGTH = 12
NAME_MAX_LENGTH = 100


class CreateApiKey:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, principal: Principal, name: str) -> CreatedApiKey:
        name = " ".join(name.split())
        if not name or len(name) > NAME_MAX_LENGTH:
            raise InvalidInput("name", f"Give the key a name of 1 to {NAME_MAX_LENGTH} characters.")
        secret = new_api_key()
        key = ApiKey(
            id=new_id(),
            user_id=principal.user.id,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            key_hash=hash_secret(secret),
            created_at=self._clock.now(),
        )
        async with self._uow_factory() as uow:
            await uow.api_keys.add(key)
            await uow.commit()
        log.info("auth.api_key.created", extra={"user_id": str(key.user_id), "api_key_id": str(key.id)})
        return CreatedApiKey(api_key=key, key=secret)


class ListApiKeys:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, principal: Principal) -> Sequence[ApiKey]:
        async with self._uow_factory() as uow:
            keys = await uow.api_keys.list_for_user(principal.user.id)
        return [key for key in keys if key.revoked_at is None]


class RevokeApiKey:
    def __init__(self, uow_factory: Callable[[], IdentityUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, principal: Principal, key_id: UUID) -> None:
        async with self._uow_factory() as uow:
            key = await uow.api_keys.get_for_user(principal.user.id, key_id)
            if key is None or key.revoked_at is not None:
                raise NotFound("No such API key.")
            key.revoke(self._clock.now())
            await uow.api_keys.update(key)
            await uow.commit()
        log.info("auth.api_key.revoked", extra={"user_id": str(key.user_id), "api_key_id": str(key.id)})
