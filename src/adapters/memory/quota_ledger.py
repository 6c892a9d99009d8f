"""The QuotaLedger port for one process: the embedded default and unit tests.

It keeps exactly the rules of the Redis ledger (the contract suite runs both), so a single-process
deployment meters the same way a cluster does. Every method runs without awaiting, so on one event loop
each call is atomic, which is all the atomicity one process needs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from application.conversation.ports import LedgerBalance, NeedsBaseline, Reservation, Settlement
from application.shared.allowance import Allowance, GrantedTokens
from domain.conversation.errors import QuotaExceeded

COUNTER_KEPT_AFTER_PERIOD = timedelta(days=7)
"""A counter outlives its period by a week, like the Redis one, so late settles still find it."""


@dataclass(slots=True)
class _Counter:
    used: int | None
    """None: not seeded yet (only grants arrived)."""
    period_end: datetime
    holds: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Reservation id -> (amount, when the hold lapses on the ledger's clock)."""
    grants: dict[UUID, int] = field(default_factory=dict)
    """Grant id -> tokens: each grant counted once."""
    granted: int = 0
    """The grants' sum, kept as one number: the in-process job runner (another thread) may add a grant while
    this loop reads it."""

    def add_grant(self, grant: GrantedTokens) -> None:
        if grant.id not in self.grants:
            self.grants[grant.id] = grant.tokens
            self.granted += grant.tokens

    def purge_expired(self, now: float) -> None:
        for reservation_id in [r for r, (_, expires) in self.holds.items() if expires <= now]:
            del self.holds[reservation_id]

    @property
    def reserved(self) -> int:
        return sum(amount for amount, _ in self.holds.values())


class InMemoryQuotaLedger:
    """Holds lapse `hold_ttl_seconds` after they are taken, so a task that died mid-reply cannot keep a
    user's quota locked; `clock` (seconds, monotonic) is injectable so tests can make them lapse."""

    def __init__(self, hold_ttl_seconds: float = 600, clock: Callable[[], float] = time.monotonic) -> None:
        self._hold_ttl = hold_ttl_seconds
        self._clock = clock
        self._counters: dict[tuple[UUID, datetime], _Counter] = {}

    async def reserve(self, user_id: UUID, allowance: Allowance, amount: int) -> Reservation:
        _require_not_negative(amount=amount)
        counter = self._counter(user_id, allowance.period_start)
        now = self._clock()
        counter.purge_expired(now)
        if (counter.used or 0) + counter.reserved + amount > allowance.limit + counter.granted:
            raise QuotaExceeded()
        reservation = Reservation(
            id=uuid4().hex,
            user_id=user_id,
            period_start=allowance.period_start,
            amount=amount,
            granted=counter.granted,
        )
        counter.holds[reservation.id] = (amount, now + self._hold_ttl)
        return reservation

    async def seed(self, user_id: UUID, allowance: Allowance, used: int) -> None:
        _require_not_negative(used=used)
        key = (user_id, allowance.period_start)
        counter = self._counters.get(key)
        if counter is not None and counter.used is not None:
            return
        if counter is None:
            self._forget_finished_periods()
            counter = self._counters[key] = _Counter(used=None, period_end=allowance.period_end)
        counter.used = used
        for grant in allowance.period_grants:
            counter.add_grant(grant)

    async def grant(self, user_id: UUID, grant: GrantedTokens) -> None:
        _require_not_negative(tokens=grant.tokens)
        key = (user_id, grant.period_start)
        if key not in self._counters:
            self._forget_finished_periods()
            self._counters[key] = _Counter(used=None, period_end=grant.period_end)
        self._counters[key].add_grant(grant)

    async def settle(self, reservation: Reservation, actual: int) -> Settlement:
        _require_not_negative(actual=actual)
        counter = self._counters.get((reservation.user_id, reservation.period_start))
        if counter is None or counter.used is None:
            return Settlement(settled=False, used=0, reserved=0, granted=0 if counter is None else counter.granted)
        settled = self._take_hold(counter, reservation.id)
        if settled:
            counter.used += actual
        counter.purge_expired(self._clock())
        return Settlement(settled=settled, used=counter.used, reserved=counter.reserved, granted=counter.granted)

    async def release(self, reservation: Reservation) -> None:
        counter = self._counters.get((reservation.user_id, reservation.period_start))
        if counter is not None:
            self._take_hold(counter, reservation.id)

    async def balance(self, user_id: UUID, allowance: Allowance) -> LedgerBalance:
        counter = self._counter(user_id, allowance.period_start)
        counter.purge_expired(self._clock())
        granted = counter.granted
        return LedgerBalance(
            limit=allowance.limit + granted, used=counter.used or 0, reserved=counter.reserved, granted=granted
        )

    def _counter(self, user_id: UUID, period_start: datetime) -> _Counter:
        counter = self._counters.get((user_id, period_start))
        if counter is None or counter.used is None:
            raise NeedsBaseline()
        return counter

    def _take_hold(self, counter: _Counter, reservation_id: str) -> bool:
        """Drop the hold; True only if it was still live (a lapsed hold is as good as released)."""
        hold = counter.holds.pop(reservation_id, None)
        return hold is not None and hold[1] > self._clock()

    def _forget_finished_periods(self) -> None:
        """Runs when a counter is added (once per user and period), so memory stays bounded by live periods."""
        now = datetime.now(UTC)
        for key in [k for k, c in self._counters.items() if c.period_end + COUNTER_KEPT_AFTER_PERIOD <= now]:
            del self._counters[key]


def _require_not_negative(**values: int) -> None:
    """A negative amount would hand quota back; that is a caller bug, never a refund."""
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")
