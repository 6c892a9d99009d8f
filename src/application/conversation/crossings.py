"""What spending tokens causes, decided on the user's durable period total: crossing 80% or 100% of the
period's quota (an email, once per period) and, on a plan that bills overage, the tokens beyond the quota
(reported to the payment gateway). A reply's usage is recorded with these candidates (ChatStore.record_reply),
and the store, which learns the period's total before and after the reply in the reply's own transaction,
keeps the ones that fire: the record and the messages it causes are stored together or not at all, each
threshold fires once per period (concurrent replies of one user are ordered by the period's total), and
overage is the exact count of tokens past the quota, whatever the quota ledger's counter says meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from application.shared import topics
from application.shared.allowance import Allowance
from application.shared.ports import OutboxMessage

QUOTA_THRESHOLDS = (80, 100)
"""Percentages of the period's quota whose crossing sends the user an email."""


@dataclass(frozen=True, slots=True)
class Crossing:
    """An outbox message a reply causes when it takes the user's period total to `mark` tokens or past it."""

    message: OutboxMessage
    mark: int
    metered: bool = False
    """False: only the reply that reaches the mark causes it. True: every reply that ends at or past the mark
    does, its payload's `tokens` the count of the reply's tokens at or past the mark."""

    def fired(self, before: int, after: int) -> OutboxMessage | None:
        """The message, if a reply that took the period's total from `before` to `after` causes it."""
        if not self.metered:
            return self.message if before < self.mark <= after else None
        past = after - max(before, self.mark - 1)
        return replace(self.message, payload={**self.message.payload, "tokens": past}) if past > 0 else None


def fired(crossings: Sequence[Crossing], before: int, after: int) -> list[OutboxMessage]:
    return [message for crossing in crossings if (message := crossing.fired(before, after)) is not None]


def quota_crossings(
    user: UUID, allowance: Allowance, granted: int, usage_id: UUID, now: datetime
) -> Sequence[Crossing]:
    """The candidates for a record of usage `usage_id` under `allowance` with `granted` tokens granted this
    period: none where the plan has no quota."""
    limit = allowance.limit + granted
    if limit <= 0:
        return []
    user_id = str(user)
    crossings = []
    if allowance.overage:
        payload = {"user_id": user_id, "tokens": 0, "usage_id": str(usage_id)}  # `tokens`: set when it fires
        message = OutboxMessage(topic=topics.OVERAGE, payload=payload, created_at=now)
        crossings.append(Crossing(message, limit + 1, metered=True))
    for threshold in QUOTA_THRESHOLDS:
        payload = {
            "user_id": user_id,
            "threshold": threshold,
            "plan": allowance.plan,
            "limit": limit,
            "period_start": allowance.period_start.isoformat(),
            "period_end": allowance.period_end.isoformat(),
        }
        message = OutboxMessage(topic=topics.QUOTA_THRESHOLD, payload=payload, created_at=now)
        crossings.append(Crossing(message, -(-threshold * limit // 100)))  # the least total at or past it
    return crossings
