"""What conversation's use cases need beyond the domain: the quota ledger, the resumable-stream log and
their unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from application.shared.allowance import Allowance, GrantedTokens
from application.shared.ports import UnitOfWork
from domain.conversation.ports import ConversationRepository, MessageRepository, UsageRepository


class ConversationUnitOfWork(UnitOfWork, Protocol):
    conversations: ConversationRepository
    messages: MessageRepository
    usage: UsageRepository


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    user_id: UUID
    period_start: datetime
    amount: int
    granted: int = 0
    """Tokens the period's grants added to the allowance's limit when the hold was taken."""


@dataclass(frozen=True, slots=True)
class LedgerBalance:
    limit: int
    """The allowance's limit plus the period's grants."""
    used: int
    reserved: int
    granted: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass(frozen=True, slots=True)
class Settlement:
    settled: bool
    """False when the reservation was already settled, released or had lapsed (nothing was counted)."""
    used: int
    reserved: int
    granted: int = 0
    """Tokens the period's grants add to the allowance's limit."""


class QuotaLedger(Protocol):
    """Atomic token accounting per user and period, across every API process.

    reserve: refuse (QuotaExceeded) unless used + reserved + amount <= limit, else hold `amount`.
    settle: turn a reservation into `actual` used tokens (idempotent: a second settle changes nothing), and
    say what the counter holds afterwards (so a reply's quota needs no second call).
    release: drop a reservation unused (idempotent).
    grant: add a grant's tokens to the period's limit, once per grant id (a repeat changes nothing); every
    check and balance of the period counts them from then on, on every process. The limit a reserve checks is
    the allowance's limit plus the period's grants; a seed counts the allowance's grants too (by id, so a grant
    the ledger already has is not counted twice).
    A ledger that has no counter for the period asks for a baseline (NeedsBaseline) so the durable usage
    records can seed it; a ledger that cannot be reached raises QuotaUnavailable (fail closed)."""

    async def reserve(self, user_id: UUID, allowance: Allowance, amount: int) -> Reservation: ...
    async def seed(self, user_id: UUID, allowance: Allowance, used: int) -> None: ...
    async def settle(self, reservation: Reservation, actual: int) -> Settlement: ...
    async def release(self, reservation: Reservation) -> None: ...
    async def balance(self, user_id: UUID, allowance: Allowance) -> LedgerBalance: ...
    async def grant(self, user_id: UUID, grant: GrantedTokens) -> None: ...


class NeedsBaseline(Exception):
    """The ledger has no counter for this user and period yet: seed it from the durable records."""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    id: int
    event: str
    data: str


class StreamLog(Protocol):
    """Keeps a reply's SSE events for a few minutes so a client that lost the connection can resume with
    Last-Event-ID, from any API process."""

    async def append(self, stream_id: str, event: LoggedEvent, *, final: bool = False) -> None: ...
    def follow(self, stream_id: str, after_id: int) -> AsyncIterator[LoggedEvent]:
        """Events after `after_id`, then new ones as they come, until the final one (or the log expires)."""
        ...

    async def exists(self, stream_id: str) -> bool: ...


class UnknownStream(Exception):
    """No such stream in the log (never existed, or expired)."""
