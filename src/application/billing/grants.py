"""Grants: an admin (or an operator, `parley users grant`) adds tokens to a user's limit for the current period.

In one transaction: the grant stored (who granted it, why, for which period), the audit entry (`user.grant`)
and an outbox job (`billing.grant`). Once committed, the grant is counted on the quota ledger at once, which
is where every API process checks the quota and reads the limit it shows, so the very next chat request and
usage page of the user count it, whatever allowance a process still has cached. The job counts it again
later (the ledger counts a grant once, by its id): should the ledger be unreachable right after the commit,
the grant is not lost. A ledger that starts a period afresh seeds it from the stored grants of that period,
so a grant ends with its period and survives a cache that forgot its counters."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from application.billing import topics
from application.billing.allowance import BillingAllowance, granted
from application.billing.ports import BillingUnitOfWork
from application.shared import audit
from application.shared.allowance import QuotaMeter
from application.shared.audit import AuditEntry
from application.shared.ports import OutboxMessage
from domain.billing.grant import Grant, check_grant
from domain.shared.clock import Clock
from domain.shared.errors import NotFound

log = logging.getLogger("parley.billing")


class GrantTokens:
    def __init__(
        self,
        uow_factory: Callable[[], BillingUnitOfWork],
        allowance: BillingAllowance,
        quota: QuotaMeter,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._allowance = allowance
        """Billing's own, uncached: the grant is for the period that is current now."""
        self._quota = quota
        self._clock = clock

    async def __call__(self, user_id: UUID, tokens: int, reason: str, granted_by: UUID | None) -> Grant:
        """`granted_by` is the admin (None: the command line). Unknown or deleted user: NotFound."""
        check_grant(tokens, reason)
        async with self._uow_factory() as uow:
            account = await uow.accounts.get(user_id)
        if account is None or account.deleted:
            raise NotFound("No user has that id.")
        return await self._grant(user_id, account.plan, tokens, reason, granted_by)

    async def by_email(self, email: str, tokens: int, reason: str) -> Grant:
        """The command line's way in: audit-logged as actor "cli"."""
        check_grant(tokens, reason)
        async with self._uow_factory() as uow:
            account = await uow.accounts.get_by_email(email)
        if account is None or account.deleted:
            raise NotFound("No user has that email address.")
        return await self._grant(account.user_id, account.plan, tokens, reason, None)

    async def _grant(self, user_id: UUID, plan: str, tokens: int, reason: str, granted_by: UUID | None) -> Grant:
        now = self._clock.now()
        allowance = await self._allowance.current(user_id, plan, now)
        grant = Grant.new(user_id, tokens, reason, granted_by, (allowance.period_start, allowance.period_end), now)
        async with self._uow_factory() as uow:
            await uow.grants.add(grant)
            await uow.audit.record(
                AuditEntry(
                    action=audit.USER_GRANT,
                    target_id=user_id,
                    created_at=now,
                    actor=audit.ACTOR_CLI if granted_by is None else audit.ACTOR_USER,
                    actor_id=granted_by,
                    details={
                        "grant_id": str(grant.id),
                        "tokens": grant.tokens,
                        "reason": grant.reason,
                        "period_end": grant.period_end.isoformat(),
                    },
                )
            )
            payload = {"grant_id": str(grant.id)}
            await uow.outbox.add(OutboxMessage(topic=topics.GRANT, payload=payload, created_at=now))
            await uow.commit()
        try:
            await self._quota.add_grant(user_id, granted(grant))
        except Exception:  # the ledger is down: the job counts the grant once it is back
            log.warning("billing.grant_deferred", extra={"grant_id": str(grant.id)}, exc_info=True)
        log.info("billing.granted", extra={"user_id": str(user_id), "grant_id": str(grant.id), "tokens": tokens})
        return grant


class CountGrant:
    """Handler of `billing.grant`: counts a stored grant on the quota ledger (a second time changes nothing)."""

    def __init__(self, uow_factory: Callable[[], BillingUnitOfWork], quota: QuotaMeter) -> None:
        self._uow_factory = uow_factory
        self._quota = quota

    async def __call__(self, message: OutboxMessage) -> None:
        async with self._uow_factory() as uow:
            grant = await uow.grants.get(UUID(str(message.payload["grant_id"])))
        if grant is not None:
            await self._quota.add_grant(grant.user_id, granted(grant))
