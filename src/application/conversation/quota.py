"""The quota ledger as the chat use case needs it: seed a cold counter from the durable usage records,
and report the quota a user sees after each reply.

Settling happens after the tokens were produced, while their usage is recorded (the two at the same time:
one wait instead of two), so a ledger that cannot be reached then must not cost the reply its record (the
usage record is what billing reads): settling is tried again after a short wait, and if the ledger still
cannot be reached, the quota is told from the durable totals once the record is in them. The reply's hold
then lapses on its own (the hold TTL), uncounted by the ledger: the counter is behind by that reply until it
is seeded again from the durable totals (a lost counter is), which the warning `quota.settle_failed` says."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from uuid import UUID

from application.conversation.ports import (
    ConversationUnitOfWork,
    LedgerBalance,
    NeedsBaseline,
    QuotaLedger,
    Reservation,
    Settlement,
)
from application.shared.allowance import Allowance, GrantedTokens, QuotaStatus
from domain.conversation.errors import QuotaUnavailable

log = logging.getLogger("parley.quota")

SETTLE_RETRY_DELAYS = (0.1, 0.5)
"""Seconds to wait before each further try at settling (then the quota is told from the durable totals)."""


class QuotaGate:
    def __init__(
        self,
        ledger: QuotaLedger,
        uow_factory: Callable[[], ConversationUnitOfWork],
        settle_retry_delays: Sequence[float] = SETTLE_RETRY_DELAYS,
    ) -> None:
        self._ledger = ledger
        self._uow_factory = uow_factory
        self._settle_retry_delays = settle_retry_delays

    async def reserve(self, user_id: UUID, allowance: Allowance, amount: int) -> Reservation:
        """Hold `amount` within the quota, or within quota + overage where the plan bills overage."""
        ceiling = replace(allowance, limit=allowance.ceiling, overage=0)
        try:
            return await self._ledger.reserve(user_id, ceiling, amount)
        except NeedsBaseline:
            await self._seed(user_id, allowance)
            return await self._ledger.reserve(user_id, ceiling, amount)

    async def settle(
        self, reservation: Reservation, actual: int, allowance: Allowance, *, recording: Awaitable[None]
    ) -> QuotaStatus:
        """Settle `actual` tokens on the ledger while `recording` stores their usage record; both run to their
        end whatever the other does (an error of the recording is raised once the ledger is settled). Then the
        quota: the ledger's, else (unreachable) the durable totals', the record in them."""
        settling = asyncio.ensure_future(self._settlement(reservation, actual))
        try:
            await recording
        finally:
            settlement = await settling
        if settlement is None:
            log.warning("quota.settle_failed", extra={"user_id": str(reservation.user_id), "tokens": actual})
            return await self._durable_status(reservation.user_id, allowance)
        if not settlement.settled:
            # The hold had lapsed (a reply longer than the hold TTL): the durable record still has the usage.
            log.warning(
                "quota.settle_after_hold_expired", extra={"user_id": str(reservation.user_id), "tokens": actual}
            )
            return await self.status(reservation.user_id, allowance)
        limit = allowance.limit + settlement.granted
        return _status(LedgerBalance(limit, settlement.used, settlement.reserved, settlement.granted), allowance)

    async def release(self, reservation: Reservation) -> None:
        await self._ledger.release(reservation)

    async def status(self, user_id: UUID, allowance: Allowance) -> QuotaStatus:
        return _status(await self.balance(user_id, allowance), allowance)

    async def balance(self, user_id: UUID, allowance: Allowance) -> LedgerBalance:
        try:
            return await self._ledger.balance(user_id, allowance)
        except NeedsBaseline:
            await self._seed(user_id, allowance)
            return await self._ledger.balance(user_id, allowance)

    async def add_grant(self, user_id: UUID, grant: GrantedTokens) -> None:
        """The ledger is where every process checks the quota, so a grant counted there applies to the very next
        check everywhere, whatever allowance a process still has cached."""
        await self._ledger.grant(user_id, grant)

    async def _settlement(self, reservation: Reservation, actual: int) -> Settlement | None:
        """The ledger's settlement (idempotent: by reservation id), tried again after each delay; None when the
        ledger could not be reached."""
        for delay in (*self._settle_retry_delays, None):
            try:
                return await self._ledger.settle(reservation, actual)
            except QuotaUnavailable:
                if delay is None:
                    break
                await asyncio.sleep(delay)
        return None

    async def _durable_status(self, user_id: UUID, allowance: Allowance) -> QuotaStatus:
        """The quota from the usage records."""
        async with self._uow_factory() as uow:
            used = await uow.usage.total_for_period(user_id, allowance.period_start)
        granted = sum(grant.tokens for grant in allowance.period_grants)
        return _status(LedgerBalance(allowance.limit + granted, used, 0, granted), allowance)

    async def _seed(self, user_id: UUID, allowance: Allowance) -> None:
        async with self._uow_factory() as uow:
            used = await uow.usage.total_for_period(user_id, allowance.period_start)
        await self._ledger.seed(user_id, allowance, used)


def _status(balance: LedgerBalance, allowance: Allowance) -> QuotaStatus:
    return QuotaStatus(balance.limit, balance.used, balance.remaining, allowance.period_end)
