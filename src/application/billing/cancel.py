from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import BillingUnitOfWork
from application.billing.subscribe import CancelAtPeriodEnd, gateway_call_failed, ref_of
from application.billing.view import SubscriptionView
from domain.billing.errors import GatewayError, NoSubscription
from domain.billing.ports import PaymentGateway
from domain.shared.clock import Clock


class CancelSubscription:
    """Cancel at the period end: the plan and its quota stay until then, then the user is on free."""

    def __init__(
        self,
        uow_factory: Callable[[], BillingUnitOfWork],
        gateway: PaymentGateway,
        plans: StaticPlanCatalogue,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._gateway = gateway
        self._plans = plans
        self._cancel = CancelAtPeriodEnd(gateway, clock)

    async def __call__(self, user_id: UUID) -> SubscriptionView:
        async with self._uow_factory() as uow:
            current = await uow.subscriptions.get_for_user(user_id)
            if current is None or not current.grants_plan:
                raise NoSubscription()
            try:
                await self._gateway.recall(ref_of(current, self._plans))
                subscription = await self._cancel(uow, current)
            except GatewayError as exc:
                raise gateway_call_failed(exc) from exc
            await uow.commit()
        return SubscriptionView.of(subscription)
