"""Reading billing state: plans, the subscription, the period's usage, payments and an invoice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork, InvoiceLinks, InvoiceRenderer
from application.billing.view import SubscriptionView
from application.shared.allowance import AllowanceProvider, QuotaMeter
from application.shared.pagination import check_limit, decode_cursor, encode_cursor
from domain.billing.model import Payment, Plan, SubscriptionStatus, anniversary_period
from domain.shared.clock import Clock
from domain.shared.errors import NotFound


class ListPlans:
    def __init__(self, plans: StaticPlanCatalogue) -> None:
        self._plans = plans

    def __call__(self) -> Sequence[Plan]:
        return self._plans.all()


class GetSubscription:
    def __init__(self, uow_factory: Callable[[], BillingUnitOfWork], clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def __call__(self, user_id: UUID) -> SubscriptionView:
        async with self._uow_factory() as uow:
            subscription = await uow.subscriptions.get_for_user(user_id)
            if subscription is not None and (
                subscription.grants_plan or subscription.status is SubscriptionStatus.INCOMPLETE
            ):
                return SubscriptionView.of(subscription)
            account = await uow.accounts.get(user_id)
        if account is None:
            raise NotFound("No such account.")
        return SubscriptionView.free(anniversary_period(account.created_at, self._clock.now()))


@dataclass(frozen=True, slots=True)
class BillingUsage:
    plan: str
    period_start: datetime
    period_end: datetime
    token_quota: int
    tokens_used: int
    remaining: int


class GetBillingUsage:
    def __init__(self, allowance: AllowanceProvider, quota: QuotaMeter, clock: Clock) -> None:
        self._allowance = allowance
        self._quota = quota
        self._clock = clock

    async def __call__(self, user_id: UUID, plan: str) -> BillingUsage:
        allowance = await self._allowance.current(user_id, plan, self._clock.now())
        status = await self._quota.status(user_id, allowance)
        return BillingUsage(
            allowance.plan,
            allowance.period_start,
            allowance.period_end,
            status.limit,
            status.used,
            status.remaining,
        )


@dataclass(frozen=True, slots=True)
class PaymentPage:
    items: Sequence[Payment]
    next_cursor: str | None


class ListPayments:
    def __init__(self, uow_factory: Callable[[], BillingUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def __call__(self, user_id: UUID, limit: int = 20, cursor: str | None = None) -> PaymentPage:
        check_limit(limit)
        before = decode_cursor(cursor) if cursor else None
        async with self._uow_factory() as uow:
            items = await uow.payments.list_for_user(user_id, limit + 1, before)
        last = items[limit - 1] if len(items) > limit else None
        return PaymentPage(items[:limit], encode_cursor(last.created_at, last.id) if last else None)


class ShowInvoice:
    """The page of one invoice, for whoever holds its signed link (the receipt email, the payments list)."""

    def __init__(
        self,
        uow_factory: Callable[[], BillingUnitOfWork],
        links: InvoiceLinks,
        pages: InvoiceRenderer,
        tax_rate_percent: float = 0.0,
    ) -> None:
        self._uow_factory = uow_factory
        self._links = links
        self._pages = pages
        self._tax_rate_percent = tax_rate_percent

    async def __call__(self, payment_id: UUID, signature: str) -> str:
        if not self._links.verify(payment_id, signature):
            raise NotFound("No such invoice.")
        async with self._uow_factory() as uow:
            payment = await uow.payments.get(payment_id)
            account = await uow.accounts.get(payment.user_id) if payment is not None else None
        if payment is None or account is None:
            raise NotFound("No such invoice.")
        return self._pages.render(payment, account, self._tax_rate_percent)
