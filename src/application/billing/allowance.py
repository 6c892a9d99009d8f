"""Billing's answer to conversation's question "how many tokens may this user spend, in which period?":
a paid plan's quota over its billing period; the free plan's quota over the month anchored on signup; and the
grants an admin made for that period (application/billing/grants.py), which the quota ledger adds to the limit."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.shared.allowance import Allowance, GrantedTokens
from domain.billing.grant import Grant
from domain.billing.model import FREE, anniversary_period


class BillingAllowance:
    def __init__(
        self, uow_factory: Callable[[], BillingUnitOfWork], plans: StaticPlanCatalogue, overage_cap: int = 1_000_000
    ) -> None:
        self._uow_factory = uow_factory
        self._plans = plans
        self._overage_cap = overage_cap
        """Tokens a period may go beyond the quota on a plan that bills overage (a runaway guard)."""

    async def current(self, user_id: UUID, plan: str, now: datetime) -> Allowance:
        # `plan` is the account's plan, kept in step with the subscription by billing: a free account has no
        # subscription granting a plan, so one read suffices either way (this runs on every chat request).
        async with self._uow_factory() as uow:
            subscription = None if plan == FREE else await uow.subscriptions.get_for_user(user_id)
            if subscription is not None and subscription.grants_plan:
                paid = self._plans.get(subscription.plan)
                start, end = subscription.current_period_start, subscription.current_period_end
                if now >= end:  # the renewal is due but has not run yet: meter the period it will open
                    start, end = anniversary_period(start, now)
                overage = self._overage_cap if paid.overage_per_1k_tokens_cents else 0
                grants = await _granted(uow, user_id, start)
                return Allowance(paid.id, paid.token_quota, start, end, overage, grants)
            account = await uow.accounts.get(user_id)
            anchor = account.created_at if account is not None else now
            start, end = anniversary_period(anchor, now)
            grants = await _granted(uow, user_id, start)
        free = self._plans.free
        return Allowance(free.id, free.token_quota, start, end, grants=grants)


async def _granted(uow: BillingUnitOfWork, user_id: UUID, period_start: datetime) -> tuple[GrantedTokens, ...]:
    return tuple(granted(grant) for grant in await uow.grants.for_period(user_id, period_start))


def granted(grant: Grant) -> GrantedTokens:
    """A grant as the quota ledger counts it."""
    return GrantedTokens(grant.id, grant.tokens, grant.period_start, grant.period_end)
