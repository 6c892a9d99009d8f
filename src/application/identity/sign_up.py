from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from application.identity import topics
from application.identity.ports import IdentityUnitOfWork
from application.shared.facts import Fact, FactKind, fact_id
from application.shared.live import LiveCounters, NoLiveCounters
from application.shared.ports import OutboxMessage
from domain.identity.model import Role, User, check_password, clean_name, normalize_email
from domain.identity.ports import PasswordDenylist, PasswordHasher
from domain.shared.clock import Clock
from domain.shared.errors import Conflict
from domain.shared.ids import new_id

log = logging.getLogger("parley.auth")


@dataclass(frozen=True, slots=True)
class SignUpRequest:
    email: str
    password: str
    name: str | None = None


class SignUp:
    """Create an unverified account and email a verification link. A taken address gets the same
    answer and the same work (the password is hashed either way); its owner is emailed instead."""

    def __init__(
        self,
        uow_factory: Callable[[], IdentityUnitOfWork],
        hasher: PasswordHasher,
        denylist: PasswordDenylist,
        clock: Clock,
        default_plan: str = "free",
        live: LiveCounters | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._hasher = hasher
        self._denylist = denylist
        self._clock = clock
        self._default_plan = default_plan
        self._live = live or NoLiveCounters()

    async def __call__(self, request: SignUpRequest) -> None:
        email = normalize_email(request.email)
        check_password(request.password, self._denylist)
        name = clean_name(request.name)
        password_hash = await self._hasher.hash(request.password)
        now = self._clock.now()
        try:
            async with self._uow_factory() as uow:
                existing = await uow.users.get_by_email(email)
                if existing is not None:
                    user_id, topic = existing.id, topics.ACCOUNT_EXISTS_EMAIL
                else:
                    user = User(
                        id=new_id(),
                        email=email,
                        name=name,
                        password_hash=password_hash,
                        role=Role.USER,
                        plan=self._default_plan,
                        created_at=now,
                    )
                    await uow.users.add(user)
                    kind = FactKind.USER_SIGNED_UP
                    await uow.facts.record(
                        Fact(id=fact_id(kind, str(user.id)), kind=kind, occurred_at=now, user_id=user.id)
                    )
                    user_id, topic = user.id, topics.VERIFICATION_EMAIL
                await uow.outbox.add(OutboxMessage(topic=topic, payload={"user_id": str(user_id)}, created_at=now))
                await uow.commit()
        except Conflict:
            # A concurrent signup took the address between our read and our write: same answer.
            log.info("auth.signup.race", extra={"user_id": None})
            return
        if existing is None:
            self._live.signed_up()
        log.info("auth.signup", extra={"user_id": str(user_id), "existing": existing is not None})
