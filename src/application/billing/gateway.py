"""What every use case that calls the payment gateway shares: the subscription as the gateway should know it,
and a gateway failure in the words a user is answered with."""

from __future__ import annotations

from application.billing.plans import StaticPlanCatalogue
from domain.billing.errors import GatewayError, PaymentFailed
from domain.billing.model import Subscription
from domain.billing.ports import SubscriptionRef
from domain.shared.errors import Unavailable


def ref_of(subscription: Subscription, plans: StaticPlanCatalogue) -> SubscriptionRef:
    """The subscription as the gateway should know it: the plan is the one its next invoice charges."""
    assert subscription.external_id is not None and subscription.customer_id is not None
    return SubscriptionRef(
        external_id=subscription.external_id,
        customer_id=subscription.customer_id,
        plan=plans.get(subscription.next_plan),
        current_period_start=subscription.current_period_start,
        current_period_end=subscription.current_period_end,
        cancel_at_period_end=subscription.cancel_at_period_end,
    )


def gateway_call_failed(exc: GatewayError) -> Exception:
    return (
        Unavailable("The payment provider is not answering; nothing was charged. Try again.")
        if exc.retryable
        else PaymentFailed(str(exc))
    )
