"""The quota ledger as the chat use case needs it: seed a cold counter from the durable usage records,
and report the quota a user sees after each reply."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from uuid import UUID

from application.conversation.ports import (
    ConversationUnitOfWork,
    LedgerBalance,
    NeedsBaseline,
    QuotaLedger,
    Reservation,
)
from application.shared.allowance import Allowance, GrantedTokens, QuotaStatus

log = logging.getLogger("parley.quota")


class QuotaGate:
    def __init__(self, ledger: QuotaLedger, uow_factory: Callable[[], ConversationUnitOfWork]) -> None:
        self._ledger = ledger
        self._uow_factory = uow_factory

    async def reserve(self, user_id: UUID, allowance: Allowance, amount: int) -> Reservation:
        """Hold `amount` within the quota, or within quota + overage where the plan bills overage."""
        ceiling = replace(allowance, limit=allowance.ceiling, overage=0)
        try:
            return await self._ledger.reserve(user_id, ceiling, amount)
        except NeedsBaseline:
            await self._seed(user_id, allowance)
            return await self._ledger.reserve(user_id, ceiling, amount)

    async def settle(self, reservation: Reservation, actual: int, allowance: Allowance) -> QuotaStatus:
        settlement = await self._ledger.settle(reservation, actual)
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

    async def _seed(self, user_id: UUID, allowance: Allowance) -> None:
        async with self._uow_factory() as uow:
            used = await uow.usage.total_for_period(user_id, allowance.period_start)
        await self._ledger.seed(user_id, allowance, used)


def _status(balance: LedgerBalance, allowance: Allowance) -> QuotaStatus:
    return QuotaStatus(balance.limit, balance.used, balance.remaining, allowance.period_end)
