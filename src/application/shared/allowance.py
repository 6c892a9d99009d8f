"""What conversation and billing share about a user's tokens: the allowance billing grants for a period, the
quota a user sees, and the port through which one context asks the other. Conversation implements
`QuotaMeter` (over its ledger); billing implements `AllowanceProvider` (over plans and subscriptions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True)
class GrantedTokens:
    """Tokens an admin added to one user's limit for one period (billing's grant, as the quota ledger counts it).
    The ledger counts each grant once, by `id`, however often it is told about it."""

    id: UUID
    tokens: int
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, slots=True)
class Allowance:
    """How many tokens a user may spend in the current period. `overage` tokens beyond the limit are allowed
    (and billed) on plans with usage-based overage; 0 makes the limit a hard cap."""

    plan: str
    limit: int
    period_start: datetime
    period_end: datetime
    overage: int = 0
    grants: Sequence[GrantedTokens] = ()
    """The period's grants when the allowance was read: what a quota ledger without a counter seeds from. The
    limit a user sees is `limit` plus the grants the ledger holds (which learns of a new grant at once)."""

    @property
    def ceiling(self) -> int:
        return self.limit + self.overage

    @property
    def period_grants(self) -> list[GrantedTokens]:
        """The grants of this allowance's period (what a ledger seeds a counter with)."""
        return [grant for grant in self.grants if grant.period_start == self.period_start]


class AllowanceProvider(Protocol):
    """Implemented by billing (application/billing/allowance.py)."""

    async def current(self, user_id: UUID, plan: str, now: datetime) -> Allowance: ...


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    limit: int
    used: int
    remaining: int
    period_end: datetime


class QuotaMeter(Protocol):
    """Implemented by conversation (application/conversation/quota.py): what a user has spent of an allowance."""

    async def status(self, user_id: UUID, allowance: Allowance) -> QuotaStatus: ...
    async def add_grant(self, user_id: UUID, grant: GrantedTokens) -> None:
        """Raise the user's limit for the grant's period by its tokens, at once on every process (idempotent)."""
        ...
