"""The allowance of recent requesters, kept for a few seconds: every chat request needs it, and it changes
far more rarely than it is read (a plan change, a new billing period).

- The plan is part of the key, and it is read fresh with the user on every request: an upgrade, a downgrade
  or a cancellation that took effect applies to the very next request.
- An entry never outlives its period: at `period_end` the allowance is read again (the new period's).
- Anything else billing changes (a period moved by the payment provider, say) applies within `ttl`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from application.shared.allowance import Allowance, AllowanceProvider

DEFAULT_MAX_ENTRIES = 100_000


class CachedAllowance:
    def __init__(self, inner: AllowanceProvider, ttl_seconds: float, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._inner = inner
        self._ttl = timedelta(seconds=ttl_seconds)
        self._max_entries = max_entries
        self._entries: dict[tuple[UUID, str], tuple[datetime, Allowance]] = {}

    async def current(self, user_id: UUID, plan: str, now: datetime) -> Allowance:
        key = (user_id, plan)
        entry = self._entries.get(key)
        if entry is not None and entry[1].period_start <= now < entry[0]:
            return entry[1]
        allowance = await self._inner.current(user_id, plan, now)
        if self._ttl > timedelta(0):
            if len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest entry
            self._entries.pop(key, None)
            self._entries[key] = (min(now + self._ttl, allowance.period_end), allowance)
        return allowance
