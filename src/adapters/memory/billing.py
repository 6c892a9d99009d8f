"""In-memory billing repositories (and the account directory over the in-memory users table)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from adapters.memory.database import TableView
from application.billing.ports import Account, ReceivedEvent
from domain.billing.grant import Grant
from domain.billing.model import Payment, Subscription
from domain.shared.errors import Conflict


class InMemoryAccountDirectory(TableView):
    table = "users"

    async def get(self, user_id: UUID) -> Account | None:
        user = self._get(user_id)
        if user is None:
            return None
        return Account(user.id, user.email, user.name, user.plan, user.created_at, deleted=user.deleted)

    async def get_by_email(self, email: str) -> Account | None:
        wanted = email.strip().lower()
        user = next((u for u in self._rows() if u.email.lower() == wanted and not u.deleted), None)
        return None if user is None else await self.get(user.id)

    async def set_plan(self, user_id: UUID, plan: str) -> None:
        user = self._get(user_id)
        if user is not None:
            user.plan = plan
            self._put(user_id, user)


class InMemorySubscriptionRepository(TableView):
    table = "subscriptions"

    async def add(self, subscription: Subscription) -> None:
        self._put(subscription.id, subscription)

    async def get_for_user(self, user_id: UUID) -> Subscription | None:
        mine = [s for s in self._rows() if s.user_id == user_id]
        return max(mine, key=lambda s: s.id.int) if mine else None

    async def get_by_external_id(self, external_id: str) -> Subscription | None:
        return next((s for s in self._rows() if s.external_id == external_id), None)

    async def update(self, subscription: Subscription) -> None:
        self._put(subscription.id, subscription)

    async def due_for_renewal(self, now: datetime, limit: int) -> Sequence[Subscription]:
        due = [s for s in self._rows() if s.grants_plan and s.current_period_end <= now]
        return sorted(due, key=lambda s: (s.current_period_end, s.id.int))[:limit]


class InMemoryPaymentRepository(TableView):
    table = "payments"

    async def add(self, payment: Payment) -> None:
        if payment.external_id and await self.get_by_external_id(payment.external_id) is not None:
            raise Conflict("This invoice is recorded already.")
        self._put(payment.id, payment)

    async def get(self, payment_id: UUID) -> Payment | None:
        payment: Payment | None = self._get(payment_id)
        return payment

    async def get_by_external_id(self, external_id: str) -> Payment | None:
        return next((p for p in self._rows() if p.external_id == external_id), None)

    async def update(self, payment: Payment) -> None:
        stored: Payment | None = self._get(payment.id)
        if stored is not None:
            stored.refunded_cents = payment.refunded_cents
            self._put(payment.id, stored)

    async def list_for_user(self, user_id: UUID, limit: int, before: tuple[datetime, UUID] | None) -> Sequence[Payment]:
        mine = sorted(
            (p for p in self._rows() if p.user_id == user_id), key=lambda p: (p.created_at, p.id.int), reverse=True
        )
        if before is not None:
            mine = [p for p in mine if (p.created_at, p.id.int) < (before[0], before[1].int)]
        return mine[:limit]

    async def next_invoice_number(self) -> int:
        counter = self._tx.get("counters", "invoice") or 0
        self._tx.put("counters", "invoice", counter + 1)
        return int(counter) + 1


class InMemoryReceivedEventRepository(TableView):
    table = "received_events"

    async def add(self, event: ReceivedEvent) -> bool:
        if self._get(event.id) is not None:
            return False
        self._put(event.id, event)
        return True

    async def lock(self, event_id: str) -> ReceivedEvent | None:
        event: ReceivedEvent | None = self._get(event_id)
        return event

    async def update(self, event: ReceivedEvent) -> None:
        self._put(event.id, event)


class InMemoryQuotaNoticeRepository(TableView):
    table = "quota_notices"

    async def add_once(self, user_id: UUID, period_start: datetime, threshold: int) -> bool:
        key = (user_id, period_start, threshold)
        if self._get(key) is not None:
            return False
        self._put(key, True)
        return True


class InMemoryGrantRepository(TableView):
    table = "grants"

    async def add(self, grant: Grant) -> None:
        self._tx.insert(self.table, grant.id, grant)

    async def get(self, grant_id: UUID) -> Grant | None:
        grant: Grant | None = self._get(grant_id)
        return grant

    async def for_period(self, user_id: UUID, period_start: datetime) -> Sequence[Grant]:
        mine = [g for g in self._rows() if g.user_id == user_id and g.period_start == period_start]
        return sorted(mine, key=lambda g: (g.created_at, g.id.int))
