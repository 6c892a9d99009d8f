"""The local payment gateway: the embedded default, which charges nothing real but behaves like a card that
always succeeds. A subscription is active at once for a month, and every charge is a paid invoice that Parley
renders itself (no hosted URL).

It is an adapter, not a test double, yet it keeps its subscriptions in memory: only what it handed back
(ids, periods, plans, the latest invoice). Parley's own subscription and payment rows are the truth: before
acting on a subscription Parley `recall`s it, so after a restart, or in another process, this gateway rebuilds
it from Parley's record. Overage reported but not yet billed is the one thing a restart forgets, which is why
Parley reports a period's overage only just before the renewal that bills it.

Money is integer cents. The rules the Stripe adapter also follows (see the contract suite):
- an upgrade (`prorate=True`) charges the difference between the two prices for the time left in the period,
  rounded half up to the cent; a lower or equal price charges nothing and credits nothing;
- a change without proration bills the new price from the next renewal on;
- a subscription set to cancel at the period end ends at its next renewal, without an invoice;
- overage reported during a period is billed on the renewal invoice that closes it: the period's tokens per
  started 1,000 at the plan's `overage_per_1k_tokens_cents` (a plan without a rate bills none), as Stripe's
  metered price with `transform_quantity[divide_by]=1000, round=up` does.
Every write takes an idempotency key: the same key with the same request returns the first answer (no second
invoice); the same key with another request is refused, as Stripe refuses it.

It does not renew by itself (`renews_itself` is False): Parley's billing cycle reports the closing period's
overage, then calls `renew`. It sends no webhooks; `parse_event` reads events in the shape `local_event`
writes (billing's own words, serialised), for whatever feeds Parley's webhook job by hand."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from domain.billing.errors import GatewayError
from domain.billing.model import Plan, SubscriptionStatus, add_month
from domain.billing.ports import (
    GatewayEvent,
    GatewayEventKind,
    GatewayInvoice,
    GatewayRefund,
    GatewaySubscription,
    SubscriptionRef,
)
from domain.shared.clock import Clock

TOKENS_PER_OVERAGE_UNIT = 1000
_MICROSECOND = timedelta(microseconds=1)


@dataclass(kw_only=True)
class _LocalSubscription:
    external_id: str
    customer_id: str
    plan: Plan
    """The plan the next invoice charges."""
    anchor: datetime
    """The start of the first period: every period boundary is a whole number of months from it."""
    periods_renewed: int = 0
    cancel_at_period_end: bool = False
    canceled: bool = False
    latest_invoice: GatewayInvoice | None = None

    @property
    def period(self) -> tuple[datetime, datetime]:
        return add_month(self.anchor, self.periods_renewed), add_month(self.anchor, self.periods_renewed + 1)


def local_event(
    event_id: str, kind: GatewayEventKind, subscription: str | None = None, invoice: GatewayInvoice | None = None
) -> dict[str, Any]:
    """An event as the local gateway's `parse_event` reads it (JSON-ready: the shape a stored event keeps)."""
    payload: dict[str, Any] = {"id": event_id, "type": kind.value, "subscription": subscription}
    if invoice is not None:
        payload["invoice"] = {
            "id": invoice.external_id,
            "amount_cents": invoice.amount_cents,
            "currency": invoice.currency,
            "paid": invoice.paid,
            "hosted_url": invoice.hosted_url,
            "period_start": invoice.period_start.isoformat(),
            "period_end": invoice.period_end.isoformat(),
        }
    return payload


class LocalPaymentGateway:
    name = "local"
    renews_itself = False
    """Parley closes each period (`renew`), reporting the period's overage first."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._subscriptions: dict[str, _LocalSubscription] = {}
        self._answers: dict[str, tuple[tuple[object, ...], GatewaySubscription]] = {}
        self._unbilled_tokens: dict[str, dict[str, int]] = {}
        """Per customer, the overage reported since its last renewal, by idempotency key."""
        self._reported: set[str] = set()

    def parse_event(self, payload: Mapping[str, Any]) -> GatewayEvent:
        try:
            kind = GatewayEventKind(payload["type"])
            invoice = payload.get("invoice")
            refund = payload.get("refund")
            return GatewayEvent(
                kind,
                payload.get("subscription"),
                None
                if invoice is None
                else GatewayInvoice(
                    external_id=str(invoice["id"]),
                    amount_cents=int(invoice["amount_cents"]),
                    currency=str(invoice["currency"]),
                    paid=bool(invoice["paid"]),
                    hosted_url=invoice.get("hosted_url"),
                    period_start=datetime.fromisoformat(invoice["period_start"]),
                    period_end=datetime.fromisoformat(invoice["period_end"]),
                ),
                None
                if refund is None
                else GatewayRefund(str(refund["invoice_id"]), int(refund["refunded_cents"]), str(refund["currency"])),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise GatewayError(f"Unexpected local event: {error!r}", retryable=False) from error

    async def recall(self, ref: SubscriptionRef) -> None:
        """Rebuild a subscription this instance does not know (made before a restart, or by another process)
        from Parley's record: its periods continue from the recorded one."""
        if ref.external_id not in self._subscriptions:
            self._subscriptions[ref.external_id] = _LocalSubscription(
                external_id=ref.external_id,
                customer_id=ref.customer_id,
                plan=ref.plan,
                anchor=ref.current_period_start,
                cancel_at_period_end=ref.cancel_at_period_end,
            )

    async def ensure_customer(self, user_id: UUID, email: str, existing_id: str | None) -> str:
        """The customer id is derived from the user, so asking twice gives the same customer."""
        return existing_id or f"cus_local_{user_id.hex}"

    async def create_subscription(
        self, customer_id: str, plan: Plan, payment_method_id: str | None, idempotency_key: str
    ) -> GatewaySubscription:
        request = ("create_subscription", customer_id, plan.id, payment_method_id)
        return self._once(idempotency_key, request, lambda: self._create(customer_id, plan))

    async def change_plan(
        self, external_id: str, plan: Plan, *, prorate: bool, idempotency_key: str
    ) -> GatewaySubscription:
        request = ("change_plan", external_id, plan.id, prorate)
        return self._once(idempotency_key, request, lambda: self._change_plan(external_id, plan, prorate))

    async def set_cancel_at_period_end(
        self, external_id: str, cancel: bool, idempotency_key: str
    ) -> GatewaySubscription:
        request = ("set_cancel_at_period_end", external_id, cancel)
        return self._once(idempotency_key, request, lambda: self._set_cancel(external_id, cancel))

    async def cancel_now(self, external_id: str, idempotency_key: str) -> GatewaySubscription:
        return self._once(idempotency_key, ("cancel_now", external_id), lambda: self._cancel_now(external_id))

    async def retrieve_subscription(self, external_id: str) -> GatewaySubscription:
        return _view(self._get(external_id))

    async def renew(self, external_id: str, idempotency_key: str) -> GatewaySubscription:
        """Close the current period: end the subscription if it is set to cancel, else start the next period
        and charge it (plan price plus the closed period's overage). Before the period has ended this changes
        nothing and does not use up the key."""
        subscription = self._get(external_id)
        if idempotency_key not in self._answers and (
            subscription.canceled or self._clock.now() < subscription.period[1]
        ):
            return _view(subscription)
        return self._once(idempotency_key, ("renew", external_id), lambda: self._renew(subscription))

    async def report_overage(self, customer_id: str, tokens: int, idempotency_key: str) -> None:
        """Recorded once per key; billed on the customer's next renewal invoice."""
        if idempotency_key in self._reported:
            return
        self._reported.add(idempotency_key)
        self._unbilled_tokens.setdefault(customer_id, {})[idempotency_key] = tokens

    def _once(
        self, key: str, request: tuple[object, ...], action: Callable[[], GatewaySubscription]
    ) -> GatewaySubscription:
        if key in self._answers:
            first_request, answer = self._answers[key]
            if first_request != request:
                raise GatewayError(f"The idempotency key '{key}' was used for another request.", retryable=False)
            return answer
        answer = action()
        self._answers[key] = (request, answer)
        return answer

    def _get(self, external_id: str) -> _LocalSubscription:
        subscription = self._subscriptions.get(external_id)
        if subscription is None:
            raise GatewayError(f"No such subscription: '{external_id}'", retryable=False)
        return subscription

    def _live(self, external_id: str) -> _LocalSubscription:
        subscription = self._get(external_id)
        if subscription.canceled:
            raise GatewayError(f"The subscription '{external_id}' is canceled.", retryable=False)
        return subscription

    def _create(self, customer_id: str, plan: Plan) -> GatewaySubscription:
        now = self._clock.now()
        subscription = _LocalSubscription(
            external_id=f"sub_local_{uuid4().hex}", customer_id=customer_id, plan=plan, anchor=now
        )
        start, end = subscription.period
        subscription.latest_invoice = _paid_invoice(plan.price_cents, plan.currency, start, end)
        self._subscriptions[subscription.external_id] = subscription
        return _view(subscription)

    def _change_plan(self, external_id: str, plan: Plan, prorate: bool) -> GatewaySubscription:
        subscription = self._live(external_id)
        if prorate:
            now = self._clock.now()
            start, end = subscription.period
            difference = plan.price_cents - subscription.plan.price_cents
            amount = _prorated(difference, max(end - now, timedelta(0)), end - start)
            if amount > 0:
                subscription.latest_invoice = _paid_invoice(amount, plan.currency, now, end)
        subscription.plan = plan
        return _view(subscription)

    def _set_cancel(self, external_id: str, cancel: bool) -> GatewaySubscription:
        subscription = self._live(external_id)
        subscription.cancel_at_period_end = cancel
        return _view(subscription)

    def _cancel_now(self, external_id: str) -> GatewaySubscription:
        subscription = self._get(external_id)
        subscription.canceled = True
        subscription.cancel_at_period_end = False
        return _view(subscription)

    def _renew(self, subscription: _LocalSubscription) -> GatewaySubscription:
        if subscription.cancel_at_period_end:
            subscription.canceled = True
            return _view(subscription)
        tokens = sum(self._unbilled_tokens.pop(subscription.customer_id, {}).values())
        rate = subscription.plan.overage_per_1k_tokens_cents or 0
        overage_cents = -(-tokens // TOKENS_PER_OVERAGE_UNIT) * rate
        subscription.periods_renewed += 1
        start, end = subscription.period
        amount = subscription.plan.price_cents + overage_cents
        subscription.latest_invoice = _paid_invoice(amount, subscription.plan.currency, start, end)
        return _view(subscription)


def _prorated(amount_cents: int, remaining: timedelta, period: timedelta) -> int:
    """`amount_cents` for the `remaining` share of `period`, rounded half up, in integers only."""
    numerator = amount_cents * (remaining // _MICROSECOND)
    denominator = period // _MICROSECOND
    return (2 * numerator + denominator) // (2 * denominator)


def _paid_invoice(amount_cents: int, currency: str, start: datetime, end: datetime) -> GatewayInvoice:
    return GatewayInvoice(
        external_id=f"in_local_{uuid4().hex}",
        amount_cents=amount_cents,
        currency=currency,
        paid=True,
        hosted_url=None,
        period_start=start,
        period_end=end,
    )


def _view(subscription: _LocalSubscription) -> GatewaySubscription:
    start, end = subscription.period
    return GatewaySubscription(
        external_id=subscription.external_id,
        customer_id=subscription.customer_id,
        status=SubscriptionStatus.CANCELED if subscription.canceled else SubscriptionStatus.ACTIVE,
        plan=subscription.plan.id,
        current_period_start=start,
        current_period_end=end,
        cancel_at_period_end=subscription.cancel_at_period_end,
        latest_invoice=subscription.latest_invoice,
    )
