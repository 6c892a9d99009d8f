"""What billing's use cases need beyond the domain: the account directory (identity's users, seen from
billing), the store of received webhook events, invoice links and pages, and their unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from application.shared.audit import AuditLog
from application.shared.ports import UnitOfWork
from domain.billing.grant import Grant
from domain.billing.model import Payment
from domain.billing.ports import PaymentRepository, SubscriptionRepository


@dataclass(frozen=True, slots=True)
class Account:
    user_id: UUID
    email: str
    name: str | None
    plan: str
    created_at: datetime
    deleted: bool = False
    """The owner deleted the account: `email` is a placeholder, and invoices show no address."""


class AccountDirectory(Protocol):
    """The users table as billing needs it: who the customer is, and the plan they are entitled to."""

    async def get(self, user_id: UUID) -> Account | None: ...
    async def get_by_email(self, email: str) -> Account | None:
        """The account with this address, compared case-insensitively (a deleted account has none)."""
        ...

    async def set_plan(self, user_id: UUID, plan: str) -> None: ...


@dataclass(kw_only=True)
class ReceivedEvent:
    """A verified gateway webhook event, stored on receipt (its id is unique) and processed by a job."""

    id: str
    type: str
    payload: dict[str, Any]
    received_at: datetime
    processed_at: datetime | None = None


class ReceivedEventRepository(Protocol):
    async def add(self, event: ReceivedEvent) -> bool:
        """Store the event; False (and nothing stored) if an event with this id was received before."""
        ...

    async def lock(self, event_id: str) -> ReceivedEvent | None: ...
    async def update(self, event: ReceivedEvent) -> None: ...


class QuotaNoticeRepository(Protocol):
    async def add_once(self, user_id: UUID, period_start: datetime, threshold: int) -> bool:
        """Remember that the `threshold`% notice went out for this period; False if it already had."""
        ...


class GrantRepository(Protocol):
    async def add(self, grant: Grant) -> None: ...
    async def get(self, grant_id: UUID) -> Grant | None: ...
    async def for_period(self, user_id: UUID, period_start: datetime) -> Sequence[Grant]:
        """The user's grants made for the period starting at `period_start`, oldest first."""
        ...


class InvoiceLinks(Protocol):
    """Signed links to invoice pages: anyone with the link may read that one invoice, no one can guess another."""

    def invoice_url(self, payment_id: UUID) -> str: ...
    def verify(self, payment_id: UUID, signature: str) -> bool: ...


class InvoiceRenderer(Protocol):
    """An invoice as a page (HTML). Amounts are tax-inclusive: `tax_rate_percent` shows the part that is tax."""

    def render(self, payment: Payment, account: Account, tax_rate_percent: float = 0.0) -> str: ...


class BillingUnitOfWork(UnitOfWork, Protocol):
    accounts: AccountDirectory
    subscriptions: SubscriptionRepository
    payments: PaymentRepository
    received_events: ReceivedEventRepository
    quota_notices: QuotaNoticeRepository
    grants: GrantRepository
    audit: AuditLog
