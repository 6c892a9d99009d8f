"""The allowance until billing provides one: the plan's token quota per calendar month (UTC)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

from application.conversation.ports import Allowance

DEFAULT_PLAN_QUOTAS = {"free": 10_000, "plus": 100_000, "pro": 500_000}


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


class MonthlyPlanAllowance:
    def __init__(self, quotas: Mapping[str, int] = DEFAULT_PLAN_QUOTAS) -> None:
        self._quotas = dict(quotas)

    async def current(self, user_id: UUID, plan: str, now: datetime) -> Allowance:
        start, end = month_bounds(now)
        return Allowance(plan=plan, limit=self._quotas.get(plan, 0), period_start=start, period_end=end)
