"""Stripe through the official SDK (`stripe.StripeClient`, its async methods over httpx).

Requests are shaped for Stripe's current API version (the one the SDK pins): a subscription item carries
the billing period (`items.data[].current_period_*`), and an invoice's payment secret is its
`confirmation_secret` (expanded; `invoice.payment_intent` no longer exists).

Subscribing with a payment method attaches it to the customer first (a declined card fails there with a
402 card error, as Stripe's test card `pm_card_chargeDeclined` does) and creates the subscription with
`payment_behavior=allow_incomplete`: Stripe charges the card at once, so the subscription is `active` with
a paid invoice, or `incomplete` with the invoice's client secret when the card needs the customer (3-D
Secure). `default_incomplete` would never charge a saved card: Stripe leaves the first invoice for the
browser to confirm. That is what subscribing without a payment method does (the browser collects the card
with the client secret), with `save_default_payment_method=on_subscription` so renewals can use that card.

An upgrade is invoiced at once (`proration_behavior=always_invoice`) with
`payment_behavior=pending_if_incomplete`, so the new price applies only once the proration is paid; a change
without proration (`none`) switches the price for the next invoice. Usage beyond the quota goes to Stripe as
billing meter events; Stripe bills it only on subscriptions carrying a metered price on that meter, which
`overage_price` adds to every subscription this adapter creates (one price, so one per-1,000-tokens rate for
all plans).

Every POST carries an idempotency key derived from the caller's, so an app-level retry replays Stripe's first
answer instead of charging again; the SDK retries network errors, 409 and 5xx with that same key. Stripe
renews subscriptions by itself (`renews_itself`): `renew` only re-fetches.

Webhook events are read here too (`parse_event`), from the body stored as received: the event names billing
acts on, the subscription of an invoice (`parent.subscription_details`), and the invoice's amount, currency and
the period of its plan lines; the application sees only billing's `GatewayEvent`."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import stripe
from stripe.params import (
    SubscriptionCreateParams,
    SubscriptionCreateParamsItem,
    SubscriptionUpdateParams,
)
from stripe.params.billing import MeterEventCreateParams

from domain.billing.errors import GatewayError
from domain.billing.model import Plan, SubscriptionStatus
from domain.billing.ports import (
    GatewayEvent,
    GatewayEventKind,
    GatewayInvoice,
    GatewayRefund,
    GatewaySubscription,
    SubscriptionRef,
)

WEBHOOK_TOLERANCE_SECONDS = 300
_EXPAND_INVOICE = "latest_invoice.confirmation_secret"
_METER_IDENTIFIER_MAX = 100
_STATUSES = {
    "active": SubscriptionStatus.ACTIVE,
    "trialing": SubscriptionStatus.TRIALING,
    "past_due": SubscriptionStatus.PAST_DUE,
    "unpaid": SubscriptionStatus.PAST_DUE,
    "canceled": SubscriptionStatus.CANCELED,
    "incomplete_expired": SubscriptionStatus.CANCELED,
    "incomplete": SubscriptionStatus.INCOMPLETE,
    "paused": SubscriptionStatus.INCOMPLETE,
}
"""Stripe's subscription statuses in ours. `paused` (a trial ended without a payment method) grants nothing
until the customer pays, like `incomplete`."""


class _Period(msgspec.Struct):
    start: int
    end: int


class _PriceDetails(msgspec.Struct):
    price: str | None = None


class _Pricing(msgspec.Struct):
    price_details: _PriceDetails | None = None


class _Line(msgspec.Struct):
    period: _Period
    pricing: _Pricing | None = None


class _Lines(msgspec.Struct):
    data: list[_Line] = []


class _ConfirmationSecret(msgspec.Struct):
    client_secret: str


class _SubscriptionDetails(msgspec.Struct):
    subscription: str | None = None


class _InvoiceParent(msgspec.Struct):
    subscription_details: _SubscriptionDetails | None = None


class _Invoice(msgspec.Struct):
    id: str
    currency: str
    amount_due: int
    amount_paid: int
    status: str | None = None
    parent: _InvoiceParent | None = None
    subscription: str | None = None
    """Where API versions before 2025-03-31 named the invoice's subscription (now `parent.subscription_details`)."""
    hosted_invoice_url: str | None = None
    period_start: int = 0
    period_end: int = 0
    lines: _Lines = msgspec.field(default_factory=_Lines)
    confirmation_secret: _ConfirmationSecret | None = None


class _Price(msgspec.Struct):
    id: str


class _Item(msgspec.Struct):
    id: str
    price: _Price
    current_period_start: int | None = None
    current_period_end: int | None = None


class _Items(msgspec.Struct):
    data: list[_Item]


class _Subscription(msgspec.Struct):
    id: str
    customer: str
    status: str
    cancel_at_period_end: bool
    items: _Items
    latest_invoice: _Invoice | str | None = None
    current_period_start: int | None = None
    current_period_end: int | None = None
    """Where API versions before 2025-03-31 kept the period; read only when the item has none."""


class _Charge(msgspec.Struct):
    id: str
    currency: str
    amount_refunded: int
    invoice: str | None = None
    """The invoice the charge paid (a charge made outside an invoice has none)."""


class _EventData(msgspec.Struct):
    object: dict[str, Any]


class _Event(msgspec.Struct):
    id: str
    type: str
    data: _EventData


_SUBSCRIPTION_EVENTS = frozenset(
    {"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted"}
)
_INVOICE_EVENTS = {
    "invoice.paid": GatewayEventKind.INVOICE_PAID,
    "invoice.payment_failed": GatewayEventKind.INVOICE_PAYMENT_FAILED,
}
"""The webhook events billing acts on, with `charge.refunded` (the endpoint's subscription in Stripe lists the
same six)."""


class StripePaymentGateway:
    """`prices` maps each paid plan's id to its Stripe price (monthly, licensed); `overage_price`, when set,
    is the metered price on the `meter_event_name` meter that bills reported overage."""

    name = "stripe"
    renews_itself = True
    """Stripe renews and charges each period, billing the meter events of the one it closes (webhooks tell us)."""

    def __init__(
        self,
        api_key: str,
        prices: Mapping[str, str],
        api_base: str | None = None,
        meter_event_name: str = "parley_tokens",
        max_network_retries: int = 2,
        overage_price: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._prices = dict(prices)
        self._plans_by_price = {price: plan for plan, price in prices.items()}
        self._overage_price = overage_price
        self._meter_event_name = meter_event_name
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        """Close the connection pool (the SDK leaves this method unannotated)."""
        await self._http.close_async()  # type: ignore[no-untyped-call]

    async def recall(self, ref: SubscriptionRef) -> None:
        """Stripe knows its subscriptions: nothing to do."""

    async def ensure_customer(self, user_id: UUID, email: str, existing_id: str | None) -> str:
        if existing_id:
            return existing_id
        with _translated_errors():
            customer = await self._client.v1.customers.create_async(
                {"email": email, "metadata": {"user_id": str(user_id)}},
                {"idempotency_key": f"customer-{user_id}"},
            )
        return customer.id

    async def create_subscription(
        self, customer_id: str, plan: Plan, payment_method_id: str | None, idempotency_key: str
    ) -> GatewaySubscription:
        items: list[SubscriptionCreateParamsItem] = [{"price": self._price_of(plan)}]
        if self._overage_price:
            items.append({"price": self._overage_price})
        params: SubscriptionCreateParams = {
            "customer": customer_id,
            "items": items,
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "expand": [_EXPAND_INVOICE],
            "metadata": {"parley_plan": plan.id},
        }
        with _translated_errors():
            if payment_method_id is not None:
                method = await self._client.v1.payment_methods.attach_async(
                    payment_method_id,
                    {"customer": customer_id},
                    {"idempotency_key": f"{idempotency_key}:attach:{payment_method_id}"},
                )
                params["default_payment_method"] = method.id
                params["payment_behavior"] = "allow_incomplete"
            subscription = await self._client.v1.subscriptions.create_async(
                params, {"idempotency_key": idempotency_key}
            )
        return self._view(subscription)

    async def change_plan(
        self, external_id: str, plan: Plan, *, prorate: bool, idempotency_key: str
    ) -> GatewaySubscription:
        with _translated_errors():
            current = _parse(await self._client.v1.subscriptions.retrieve_async(external_id))
            params: SubscriptionUpdateParams = {
                "items": [{"id": self._plan_item(current).id, "price": self._price_of(plan)}],
                "proration_behavior": "always_invoice" if prorate else "none",
                "expand": [_EXPAND_INVOICE],
            }
            if prorate:
                params["payment_behavior"] = "pending_if_incomplete"
            subscription = await self._client.v1.subscriptions.update_async(
                external_id, params, {"idempotency_key": idempotency_key}
            )
        return self._view(subscription)

    async def set_cancel_at_period_end(
        self, external_id: str, cancel: bool, idempotency_key: str
    ) -> GatewaySubscription:
        with _translated_errors():
            subscription = await self._client.v1.subscriptions.update_async(
                external_id,
                {"cancel_at_period_end": cancel, "expand": [_EXPAND_INVOICE]},
                {"idempotency_key": idempotency_key},
            )
        return self._view(subscription)

    async def cancel_now(self, external_id: str, idempotency_key: str) -> GatewaySubscription:
        """DELETE /v1/subscriptions/{id}, which takes no idempotency key (a DELETE is idempotent by definition):
        one that has ended already is only read, as Stripe refuses to cancel it again."""
        current = await self.retrieve_subscription(external_id)
        if current.status is SubscriptionStatus.CANCELED:
            return current
        with _translated_errors():
            subscription = await self._client.v1.subscriptions.cancel_async(external_id, {"expand": [_EXPAND_INVOICE]})
        return self._view(subscription)

    async def retrieve_subscription(self, external_id: str) -> GatewaySubscription:
        with _translated_errors():
            subscription = await self._client.v1.subscriptions.retrieve_async(
                external_id, {"expand": [_EXPAND_INVOICE]}
            )
        return self._view(subscription)

    async def renew(self, external_id: str, idempotency_key: str) -> GatewaySubscription:
        """Stripe starts and charges each period itself; this reads where it is."""
        return await self.retrieve_subscription(external_id)

    async def report_overage(self, customer_id: str, tokens: int, idempotency_key: str) -> None:
        """A meter event whose `identifier` is the key: Stripe counts one event per identifier."""
        params: MeterEventCreateParams = {
            "event_name": self._meter_event_name,
            "payload": {"stripe_customer_id": customer_id, "value": str(tokens)},
            "identifier": _meter_identifier(idempotency_key),
        }
        with _translated_errors():
            await self._client.v1.billing.meter_events.create_async(params, {"idempotency_key": idempotency_key})

    def parse_event(self, payload: Mapping[str, Any]) -> GatewayEvent:
        """A subscription event names the subscription (its state is re-fetched, never read from the body);
        an invoice event carries the invoice, whose subscription is `parent.subscription_details`."""
        try:
            event = msgspec.convert(payload, _Event)
            if event.type in _SUBSCRIPTION_EVENTS:
                return GatewayEvent(GatewayEventKind.SUBSCRIPTION_CHANGED, str(event.data.object["id"]))
            if event.type == "charge.refunded":
                charge = msgspec.convert(event.data.object, _Charge)
                if charge.invoice is None:
                    return GatewayEvent(GatewayEventKind.OTHER)  # not a charge of ours: no invoice, no payment
                refund = GatewayRefund(charge.invoice, charge.amount_refunded, charge.currency)
                return GatewayEvent(GatewayEventKind.CHARGE_REFUNDED, refund=refund)
            kind = _INVOICE_EVENTS.get(event.type)
            if kind is None:
                return GatewayEvent(GatewayEventKind.OTHER)
            invoice = msgspec.convert(event.data.object, _Invoice)
        except (msgspec.ValidationError, KeyError) as error:
            raise GatewayError(f"Unexpected event from Stripe: {error}", retryable=False) from error
        details = invoice.parent.subscription_details if invoice.parent else None
        subscription = (details.subscription if details else None) or invoice.subscription
        return GatewayEvent(kind, subscription, self._invoice(invoice))

    def _price_of(self, plan: Plan) -> str:
        price = self._prices.get(plan.id)
        if price is None:
            raise GatewayError(f"No Stripe price is configured for the plan '{plan.id}'.", retryable=False)
        return price

    def _plan_item(self, subscription: _Subscription) -> _Item:
        """The item carrying the plan's price (not the metered overage one)."""
        items = subscription.items.data
        if not items:
            raise GatewayError(f"The subscription '{subscription.id}' has no items.", retryable=False)
        return next(
            (item for item in items if item.price.id in self._plans_by_price),
            next((item for item in items if item.price.id != self._overage_price), items[0]),
        )

    def _view(self, stripe_subscription: stripe.Subscription) -> GatewaySubscription:
        subscription = _parse(stripe_subscription)
        status = _STATUSES.get(subscription.status)
        if status is None:
            raise GatewayError(f"Unknown Stripe subscription status '{subscription.status}'.", retryable=False)
        item = self._plan_item(subscription)
        start = item.current_period_start or subscription.current_period_start
        end = item.current_period_end or subscription.current_period_end
        if start is None or end is None:
            raise GatewayError(f"The subscription '{subscription.id}' has no current period.", retryable=False)
        invoice = subscription.latest_invoice if isinstance(subscription.latest_invoice, _Invoice) else None
        unpaid_secret = invoice.confirmation_secret if invoice and invoice.status != "paid" else None
        return GatewaySubscription(
            external_id=subscription.id,
            customer_id=subscription.customer,
            status=status,
            plan=self._plans_by_price.get(item.price.id),
            current_period_start=_moment(start),
            current_period_end=_moment(end),
            cancel_at_period_end=subscription.cancel_at_period_end,
            client_secret=unpaid_secret.client_secret if unpaid_secret else None,
            latest_invoice=self._invoice(invoice) if invoice else None,
        )

    def _invoice(self, invoice: _Invoice) -> GatewayInvoice:
        """The invoice's period is that of its plan-price lines (a renewal invoice also bills the closed
        period's metered usage, in arrears)."""
        lines = invoice.lines.data
        plan_lines = [
            line
            for line in lines
            if line.pricing and line.pricing.price_details and line.pricing.price_details.price in self._plans_by_price
        ]
        periods = [line.period for line in plan_lines or lines]
        start = min((p.start for p in periods), default=invoice.period_start)
        end = max((p.end for p in periods), default=invoice.period_end)
        paid = invoice.status == "paid"
        return GatewayInvoice(
            external_id=invoice.id,
            amount_cents=invoice.amount_paid if paid else invoice.amount_due,
            currency=invoice.currency,
            paid=paid,
            hosted_url=invoice.hosted_invoice_url,
            period_start=_moment(start),
            period_end=_moment(end),
        )


class InvalidSignature(ValueError):
    """A webhook body that Stripe did not sign with our secret, or signed too long ago (or ahead)."""


def construct_event(
    payload: bytes, sig_header: str, secret: str, tolerance: int = WEBHOOK_TOLERANCE_SECONDS
) -> dict[str, Any]:
    """The verified event, as a plain dict. Verifies the `Stripe-Signature` HMAC over the raw body with the
    SDK, then the timestamp ourselves: the SDK rejects only timestamps older than `tolerance` (and none at all
    when it is 0), while a signed timestamp further ahead than `tolerance` is refused here too."""
    if tolerance <= 0:
        raise ValueError("tolerance must be positive")
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, secret, tolerance)
        timestamp = int(next(part[2:] for part in sig_header.split(",") if part.startswith("t=")))
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, ValueError, StopIteration) as error:
        raise InvalidSignature(str(error)) from error
    if abs(time.time() - timestamp) > tolerance:
        raise InvalidSignature(f"Timestamp outside the tolerance zone ({timestamp})")
    if not isinstance(event, dict) or event.get("object") != "event" or not isinstance(event.get("id"), str):
        raise InvalidSignature("The body is not a Stripe event.")
    return event


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Stripe's errors in billing's words. `retryable`: the same call with the same idempotency key may
    succeed later (network, rate limit, conflict, Stripe's 5xx, after the SDK's own retries)."""
    try:
        yield
    except stripe.CardError as error:
        raise GatewayError(f"payment declined: {error.user_message}", retryable=False) from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise GatewayError(f"Stripe did not answer: {error.user_message}", retryable=True) from error
    except stripe.StripeError as error:
        status = error.http_status or 0
        retryable = status == 409 or status >= 500
        raise GatewayError(
            f"Stripe refused the request ({status}): {error.user_message}", retryable=retryable
        ) from error


def _parse(subscription: stripe.Subscription) -> _Subscription:
    try:
        return msgspec.convert(subscription.to_dict(), _Subscription)
    except msgspec.ValidationError as error:
        raise GatewayError(f"Unexpected subscription from Stripe: {error}", retryable=False) from error


def _meter_identifier(idempotency_key: str) -> str:
    """Stripe caps meter event identifiers at 100 characters: a longer key is replaced by its digest."""
    if len(idempotency_key) <= _METER_IDENTIFIER_MAX:
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
