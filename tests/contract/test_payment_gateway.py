"""One suite for every PaymentGateway: a subscription is active for a month with a paid invoice of its plan's
price, an idempotency key charges once, an upgrade charges the prorated difference at once, a change without
proration bills the new price from the next period, a cancel ends the subscription at the period end, and
overage is billed once per key on the next invoice.

The Stripe adapter runs through the real `stripe` SDK against a local server speaking Stripe's wire format
(tests/support/fake_stripe.py), which refuses parameters Stripe does not know, so the SDK's encoding, retries
and error handling are part of what is tested. The Stripe-only tests below pin what only Stripe has: the
requests themselves, cards that need authentication or are declined, retries, and webhook signatures."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import uuid4

import pytest
import stripe

from adapters.memory.clock import FrozenClock
from adapters.payments.local import LocalPaymentGateway, local_event
from adapters.payments.stripe import InvalidSignature, StripePaymentGateway, construct_event
from domain.billing.errors import GatewayError
from domain.billing.model import Plan, add_month
from domain.billing.ports import GatewayEvent, GatewayEventKind, GatewaySubscription, PaymentGateway, SubscriptionRef
from tests.support.fake_stripe import FakeStripe, Fault

START = datetime(2026, 1, 1, tzinfo=UTC)
"""A 31-day first period: 15.5 days in, exactly half of it is left."""
HALF_PERIOD = timedelta(days=15, hours=12)
PLUS = Plan(
    id="plus",
    name="Plus",
    price_cents=2000,
    currency="usd",
    token_quota=100_000,
    models="all",
    rank=1,
    overage_per_1k_tokens_cents=2,
)
PRO = Plan(
    id="pro",
    name="Pro",
    price_cents=5000,
    currency="usd",
    token_quota=500_000,
    models="all",
    rank=2,
    overage_per_1k_tokens_cents=2,
)
"""The fake Stripe's catalogue holds the same prices: price_plus, price_pro, and price_overage (2 cents per
started 1,000 tokens, on the `parley_tokens` meter)."""


@dataclass
class Billing:
    gateway: PaymentGateway
    card: str
    """A payment method that pays."""
    advance_time: Callable[[timedelta], None]
    close_period: Callable[[str], Awaitable[GatewaySubscription]]
    """What happens at a subscription's period end: the local gateway renews when Parley asks, Stripe by
    itself (the fake is told to), after which the adapter reads the result."""

    async def subscribe(self, plan: Plan = PLUS, key: str = "subscribe-1") -> GatewaySubscription:
        customer = await self.gateway.ensure_customer(uuid4(), "ada@example.com", None)
        return await self.gateway.create_subscription(customer, plan, self.card, key)


def stripe_gateway_for(fake: FakeStripe, **options: Any) -> StripePaymentGateway:
    return StripePaymentGateway(
        fake.api_key,
        fake.prices,
        api_base=options.pop("api_base", fake.api_base),
        overage_price=fake.overage_price,
        **options,
    )


@pytest.fixture(params=["local", "stripe"])
async def billing(request: pytest.FixtureRequest) -> AsyncIterator[Billing]:
    if request.param == "local":
        clock = FrozenClock(START)
        local = LocalPaymentGateway(clock)

        async def renew_locally(external_id: str) -> GatewaySubscription:
            current = await local.retrieve_subscription(external_id)
            clock.advance(current.current_period_end - clock.now())
            return await local.renew(external_id, f"renew:{external_id}:{current.current_period_end.isoformat()}")

        yield Billing(local, "pm_anything", clock.advance, renew_locally)
        return
    fake: FakeStripe = request.getfixturevalue("fake_stripe")
    fake.set_time(START)
    gateway = stripe_gateway_for(fake)

    async def stripe_renews(external_id: str) -> GatewaySubscription:
        fake.advance(external_id)
        return await gateway.renew(external_id, f"renew:{external_id}")

    yield Billing(gateway, "pm_card_visa", fake.advance_time, stripe_renews)
    await gateway.aclose()


@pytest.fixture
async def stripe_gateway(fake_stripe: FakeStripe) -> AsyncIterator[StripePaymentGateway]:
    fake_stripe.set_time(START)
    gateway = stripe_gateway_for(fake_stripe)
    yield gateway
    await gateway.aclose()


# --- the contract ------------------------------------------------------------------------------------


async def test_a_new_subscription_is_active_for_a_month_with_a_paid_invoice_of_the_plan_price(billing: Billing) -> None:
    subscription = await billing.subscribe(PLUS)

    assert subscription.status == "active"
    assert subscription.plan == "plus"
    assert (subscription.current_period_start, subscription.current_period_end) == (START, add_month(START))
    assert subscription.cancel_at_period_end is False
    assert subscription.client_secret is None
    invoice = subscription.latest_invoice
    assert invoice is not None
    assert (invoice.amount_cents, invoice.currency, invoice.paid) == (2000, "usd", True)
    assert (invoice.period_start, invoice.period_end) == (START, add_month(START))


async def test_the_same_idempotency_key_gives_the_same_subscription_and_charges_once(billing: Billing) -> None:
    customer = await billing.gateway.ensure_customer(uuid4(), "ada@example.com", None)

    first = await billing.gateway.create_subscription(customer, PLUS, billing.card, "subscribe-once")
    again = await billing.gateway.create_subscription(customer, PLUS, billing.card, "subscribe-once")

    assert again == first


async def test_an_idempotency_key_used_for_another_request_is_refused(billing: Billing) -> None:
    customer = await billing.gateway.ensure_customer(uuid4(), "ada@example.com", None)
    await billing.gateway.create_subscription(customer, PLUS, billing.card, "subscribe-once")

    with pytest.raises(GatewayError) as raised:
        await billing.gateway.create_subscription(customer, PRO, billing.card, "subscribe-once")

    assert raised.value.retryable is False


async def test_a_customer_is_made_once_per_user_and_an_existing_one_is_kept(billing: Billing) -> None:
    user = uuid4()

    first = await billing.gateway.ensure_customer(user, "ada@example.com", None)
    again = await billing.gateway.ensure_customer(user, "ada@example.com", None)
    kept = await billing.gateway.ensure_customer(uuid4(), "bob@example.com", first)

    assert again == first
    assert kept == first


async def test_an_upgrade_charges_the_price_difference_for_the_rest_of_the_period_at_once(billing: Billing) -> None:
    subscription = await billing.subscribe(PLUS)
    billing.advance_time(HALF_PERIOD)

    upgraded = await billing.gateway.change_plan(subscription.external_id, PRO, prorate=True, idempotency_key="up-1")

    assert upgraded.plan == "pro"
    assert upgraded.status == "active"
    assert (upgraded.current_period_start, upgraded.current_period_end) == (START, add_month(START))
    invoice = upgraded.latest_invoice
    assert invoice is not None
    assert invoice != subscription.latest_invoice
    assert (invoice.amount_cents, invoice.paid) == ((5000 - 2000) // 2, True)
    assert (invoice.period_start, invoice.period_end) == (START + HALF_PERIOD, add_month(START))
    renewed = await billing.close_period(subscription.external_id)
    assert renewed.latest_invoice is not None
    assert renewed.latest_invoice.amount_cents == 5000


async def test_a_change_without_proration_charges_nothing_now_and_the_new_price_from_the_next_period(
    billing: Billing,
) -> None:
    subscription = await billing.subscribe(PRO)
    billing.advance_time(HALF_PERIOD)

    changed = await billing.gateway.change_plan(subscription.external_id, PLUS, prorate=False, idempotency_key="down-1")

    assert changed.latest_invoice == subscription.latest_invoice
    assert (changed.current_period_start, changed.current_period_end) == (START, add_month(START))
    renewed = await billing.close_period(subscription.external_id)
    assert renewed.plan == "plus"
    assert (renewed.current_period_start, renewed.current_period_end) == (add_month(START), add_month(START, 2))
    invoice = renewed.latest_invoice
    assert invoice is not None
    assert (invoice.amount_cents, invoice.paid) == (2000, True)
    assert (invoice.period_start, invoice.period_end) == (add_month(START), add_month(START, 2))


async def test_a_cancel_at_period_end_ends_the_subscription_then_without_charging(billing: Billing) -> None:
    subscription = await billing.subscribe(PLUS)

    canceling = await billing.gateway.set_cancel_at_period_end(subscription.external_id, True, "cancel-1")

    assert (canceling.status, canceling.cancel_at_period_end) == ("active", True)
    ended = await billing.close_period(subscription.external_id)
    assert ended.status == "canceled"
    assert ended.latest_invoice == subscription.latest_invoice


async def test_a_cancel_now_ends_the_subscription_at_once_without_charging_and_twice_is_harmless(
    billing: Billing,
) -> None:
    subscription = await billing.subscribe(PLUS)
    await billing.gateway.set_cancel_at_period_end(subscription.external_id, True, "cancel-1")

    ended = await billing.gateway.cancel_now(subscription.external_id, "erase-1")
    again = await billing.gateway.cancel_now(subscription.external_id, "erase-1")

    assert (ended.status, ended.cancel_at_period_end) == ("canceled", False)
    assert ended.latest_invoice == subscription.latest_invoice
    assert again == ended
    assert await billing.gateway.retrieve_subscription(subscription.external_id) == ended
    closed = await billing.close_period(subscription.external_id)
    assert (closed.status, closed.latest_invoice) == ("canceled", subscription.latest_invoice)


async def test_a_cancel_withdrawn_before_the_period_end_renews_as_usual(billing: Billing) -> None:
    subscription = await billing.subscribe(PLUS)
    await billing.gateway.set_cancel_at_period_end(subscription.external_id, True, "cancel-1")

    resumed = await billing.gateway.set_cancel_at_period_end(subscription.external_id, False, "resume-1")

    assert resumed.cancel_at_period_end is False
    renewed = await billing.close_period(subscription.external_id)
    assert renewed.status == "active"
    assert renewed.latest_invoice is not None
    assert (renewed.latest_invoice.amount_cents, renewed.latest_invoice.paid) == (2000, True)


async def test_retrieve_reflects_every_change(billing: Billing) -> None:
    subscription = await billing.subscribe(PLUS)
    billing.advance_time(HALF_PERIOD)
    await billing.gateway.change_plan(subscription.external_id, PRO, prorate=True, idempotency_key="up-1")
    last = await billing.gateway.set_cancel_at_period_end(subscription.external_id, True, "cancel-1")

    retrieved = await billing.gateway.retrieve_subscription(subscription.external_id)

    assert retrieved == last
    assert (retrieved.plan, retrieved.cancel_at_period_end) == ("pro", True)
    assert retrieved.latest_invoice is not None
    assert retrieved.latest_invoice.amount_cents == 1500


async def test_a_renewal_starts_the_next_period_and_charges_it(billing: Billing) -> None:
    subscription = await billing.subscribe(PLUS)

    renewed = await billing.close_period(subscription.external_id)

    assert renewed.status == "active"
    assert (renewed.current_period_start, renewed.current_period_end) == (add_month(START), add_month(START, 2))
    invoice = renewed.latest_invoice
    assert invoice is not None
    assert invoice != subscription.latest_invoice
    assert (invoice.amount_cents, invoice.paid) == (2000, True)


async def test_overage_reported_twice_under_one_key_is_billed_once_on_the_next_invoice(billing: Billing) -> None:
    subscription = await billing.subscribe(PLUS)
    customer = subscription.customer_id

    await billing.gateway.report_overage(customer, 1500, "overage-1")
    await billing.gateway.report_overage(customer, 1500, "overage-1")
    await billing.gateway.report_overage(customer, 600, "overage-2")

    renewed = await billing.close_period(subscription.external_id)
    assert renewed.latest_invoice is not None
    assert renewed.latest_invoice.amount_cents == 2000 + 3 * 2  # 2,100 tokens: three started thousands


async def test_overage_reported_again_after_it_was_billed_is_not_billed_twice(billing: Billing) -> None:
    subscription = await billing.subscribe(PLUS)
    await billing.gateway.report_overage(subscription.customer_id, 1500, "overage-1")
    await billing.close_period(subscription.external_id)

    await billing.gateway.report_overage(subscription.customer_id, 1500, "overage-1")

    renewed = await billing.close_period(subscription.external_id)
    assert renewed.latest_invoice is not None
    assert renewed.latest_invoice.amount_cents == 2000


async def test_an_unknown_subscription_is_an_error_worth_no_retry(billing: Billing) -> None:
    with pytest.raises(GatewayError) as raised:
        await billing.gateway.retrieve_subscription("sub_unknown")

    assert raised.value.retryable is False


# --- local only ------------------------------------------------------------------------------------------


async def test_the_local_gateway_renews_nothing_itself_and_reads_back_the_events_it_writes() -> None:
    clock = FrozenClock(START)
    gateway = LocalPaymentGateway(clock)
    subscription = await gateway.create_subscription("cus_local_1", PLUS, None, "subscribe-1")
    invoice = subscription.latest_invoice
    assert invoice is not None

    event = local_event("evt_1", GatewayEventKind.INVOICE_PAID, subscription.external_id, invoice)

    assert gateway.renews_itself is False
    assert gateway.parse_event(json.loads(json.dumps(event))) == GatewayEvent(
        GatewayEventKind.INVOICE_PAID, subscription.external_id, invoice
    )
    with pytest.raises(GatewayError):
        gateway.parse_event({"id": "evt_2", "type": "invoice.paid"})


async def test_a_local_proration_of_half_a_cent_rounds_up() -> None:
    clock = FrozenClock(START)
    gateway = LocalPaymentGateway(clock)
    subscription = await gateway.create_subscription("cus_local_1", PLUS, None, "subscribe-1")
    clock.advance(add_month(START) - START - timedelta(seconds=446.4))  # 3,000 cents x 446.4 s / 31 days = 0.5

    upgraded = await gateway.change_plan(subscription.external_id, PRO, prorate=True, idempotency_key="up-1")

    assert upgraded.latest_invoice is not None
    assert upgraded.latest_invoice.amount_cents == 1


async def test_a_local_renewal_asked_for_before_the_period_ends_changes_nothing() -> None:
    clock = FrozenClock(START)
    gateway = LocalPaymentGateway(clock)
    subscription = await gateway.create_subscription("cus_local_1", PLUS, None, "subscribe-1")
    clock.advance(HALF_PERIOD)

    early = await gateway.renew(subscription.external_id, "renew-1")
    clock.advance(add_month(START) - clock.now())
    due = await gateway.renew(subscription.external_id, "renew-1")

    assert early == subscription
    assert due.current_period_start == add_month(START)
    assert due.latest_invoice is not None and due.latest_invoice != subscription.latest_invoice


async def test_a_restarted_local_gateway_recalls_a_subscription_from_parleys_record() -> None:
    clock = FrozenClock(START)
    created = await LocalPaymentGateway(clock).create_subscription("cus_local_1", PLUS, None, "subscribe-1")
    restarted = LocalPaymentGateway(clock)  # a new process: it knows nothing
    ref = SubscriptionRef(
        external_id=created.external_id,
        customer_id="cus_local_1",
        plan=PLUS,
        current_period_start=created.current_period_start,
        current_period_end=created.current_period_end,
        cancel_at_period_end=False,
    )
    await restarted.recall(ref)
    clock.advance(add_month(START) - START)

    renewed = await restarted.renew(created.external_id, "renew-1")

    assert renewed.current_period_start == created.current_period_end
    assert renewed.latest_invoice is not None and renewed.latest_invoice.amount_cents == PLUS.price_cents


# --- Stripe only: the requests ---------------------------------------------------------------------------


async def test_every_stripe_post_carries_an_idempotency_key_derived_from_the_callers(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    user = uuid4()
    customer = await stripe_gateway.ensure_customer(user, "ada@example.com", None)
    subscription = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")
    await stripe_gateway.change_plan(subscription.external_id, PRO, prorate=True, idempotency_key="up-1")
    await stripe_gateway.set_cancel_at_period_end(subscription.external_id, True, "cancel-1")
    await stripe_gateway.report_overage(customer, 10, "overage-1")

    posts = [(r.path, r.idempotency_key) for r in fake_stripe.requests if r.method == "POST"]
    assert posts == [
        ("/v1/customers", f"customer-{user}"),
        ("/v1/payment_methods/pm_card_visa/attach", "subscribe-1:attach:pm_card_visa"),
        ("/v1/subscriptions", "subscribe-1"),
        (f"/v1/subscriptions/{subscription.external_id}", "up-1"),
        (f"/v1/subscriptions/{subscription.external_id}", "cancel-1"),
        ("/v1/billing/meter_events", "overage-1"),
    ]


async def test_a_cancel_now_is_stripes_delete_once_and_its_deleted_event(
    stripe_gateway: StripePaymentGateway, fake_stripe: FakeStripe
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    subscription = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")

    await stripe_gateway.cancel_now(subscription.external_id, "erase-1")
    await stripe_gateway.cancel_now(subscription.external_id, "erase-1")

    deletes = [r for r in fake_stripe.requests if r.method == "DELETE"]
    assert [(r.path, r.status) for r in deletes] == [(f"/v1/subscriptions/{subscription.external_id}", 200)]
    assert fake_stripe.events[-1]["type"] == "customer.subscription.deleted"


async def test_a_subscription_is_created_with_stripes_parameters_for_a_card_charged_at_once(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)

    await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")

    attach, create = [r for r in fake_stripe.requests if r.method == "POST"][1:]
    assert attach.params == {"customer": customer}
    attached = fake_stripe.subscriptions[0]["default_payment_method"]
    assert attached.startswith("pm_") and attached != "pm_card_visa"
    assert create.params == {
        "customer": customer,
        "items": [{"price": "price_plus"}, {"price": "price_overage"}],
        "payment_behavior": "allow_incomplete",
        "payment_settings": {"save_default_payment_method": "on_subscription"},
        "default_payment_method": attached,
        "expand": ["latest_invoice.confirmation_secret"],
        "metadata": {"parley_plan": "plus"},
    }


async def test_a_repeated_subscribe_is_replayed_by_stripe_not_executed_again(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)

    for _ in range(2):
        await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")

    replays = [(r.path, r.replayed) for r in fake_stripe.requests if r.method == "POST"][1:]
    assert replays == [
        ("/v1/payment_methods/pm_card_visa/attach", False),
        ("/v1/subscriptions", False),
        ("/v1/payment_methods/pm_card_visa/attach", True),
        ("/v1/subscriptions", True),
    ]
    assert len(fake_stripe.subscriptions) == 1
    assert len(fake_stripe.invoices) == 1


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"itmes": [{"price": "price_plus"}]}, "parameter_unknown", "itmes"),
        ({"items": [{"pric": "price_plus"}]}, "parameter_unknown", "items[0][pric]"),
        ({"items": [{"price": "price_plus"}], "payment_behavior": "default_incompelte"}, None, "payment_behavior"),
        ({"items": [{"price": "price_plus"}], "expand": ["latest_invoice.payment_intent"]}, None, "expand"),
        ({"items": [{"price": "price_platinum"}]}, "resource_missing", "items[0][price]"),
    ],
    ids=["unknown-parameter", "unknown-nested-parameter", "unknown-enum-value", "legacy-expansion", "unknown-price"],
)
async def test_the_fake_refuses_what_stripe_refuses(
    fake_stripe: FakeStripe,
    params: dict[str, Any],
    code: str | None,
    param: str,
) -> None:
    client = stripe.StripeClient(fake_stripe.api_key, base_addresses={"api": fake_stripe.api_base})
    customer = await client.v1.customers.create_async({"email": "ada@example.com"})

    with pytest.raises(stripe.InvalidRequestError) as raised:
        await client.v1.subscriptions.create_async(cast(Any, {"customer": customer.id, **params}))

    assert (raised.value.code, raised.value.param) == (code, param)
    assert fake_stripe.subscriptions == []


async def test_the_stripe_adapter_sends_only_parameters_stripe_knows(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    paid = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")
    await stripe_gateway.create_subscription(customer, PLUS, None, "subscribe-2")
    await stripe_gateway.create_subscription(customer, PLUS, "pm_card_authenticationRequired", "subscribe-3")
    await stripe_gateway.change_plan(paid.external_id, PRO, prorate=True, idempotency_key="up-1")
    await stripe_gateway.change_plan(paid.external_id, PLUS, prorate=False, idempotency_key="down-1")
    await stripe_gateway.set_cancel_at_period_end(paid.external_id, True, "cancel-1")
    await stripe_gateway.retrieve_subscription(paid.external_id)
    await stripe_gateway.renew(paid.external_id, "renew-1")
    await stripe_gateway.report_overage(customer, 10, "overage-1")

    refused = [(r.method, r.path, r.status) for r in fake_stripe.requests if r.status >= 400]
    assert refused == []
    assert len(fake_stripe.requests) == 14


async def test_overage_is_a_meter_event_identified_by_its_key(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    await stripe_gateway.report_overage("cus_123", 1500, "overage-1")
    await stripe_gateway.report_overage("cus_123", 1500, "overage-1")

    assert [r.params for r in fake_stripe.requests] == [
        {
            "event_name": "parley_tokens",
            "payload": {"stripe_customer_id": "cus_123", "value": "1500"},
            "identifier": "overage-1",
        }
    ] * 2
    assert [e["identifier"] for e in fake_stripe.meter_events] == ["overage-1"]


# --- Stripe only: cards ---------------------------------------------------------------------------------


async def test_a_card_that_needs_authentication_leaves_the_subscription_incomplete_with_a_client_secret(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)

    subscription = await stripe_gateway.create_subscription(
        customer, PLUS, "pm_card_authenticationRequired", "subscribe-1"
    )

    assert subscription.status == "incomplete"
    assert subscription.client_secret is not None
    assert subscription.client_secret.startswith("pi_") and "_secret_" in subscription.client_secret
    assert subscription.latest_invoice is not None
    assert (subscription.latest_invoice.paid, subscription.latest_invoice.amount_cents) == (False, 2000)
    fake_stripe.complete_payment(subscription.external_id)
    paid = await stripe_gateway.retrieve_subscription(subscription.external_id)
    assert (paid.status, paid.client_secret) == ("active", None)
    assert paid.latest_invoice is not None and paid.latest_invoice.paid


async def test_without_a_payment_method_the_first_invoice_waits_for_the_browser(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)

    subscription = await stripe_gateway.create_subscription(customer, PLUS, None, "subscribe-1")

    assert (subscription.status, subscription.plan) == ("incomplete", "plus")
    assert subscription.client_secret is not None
    create = next(r for r in fake_stripe.requests if r.path == "/v1/subscriptions")
    assert create.params["payment_behavior"] == "default_incomplete"
    assert "default_payment_method" not in create.params


async def test_a_declined_card_is_a_payment_declined_error_worth_no_retry_and_creates_nothing(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)

    with pytest.raises(GatewayError) as raised:
        await stripe_gateway.create_subscription(customer, PLUS, "pm_card_chargeDeclined", "subscribe-1")

    assert raised.value.retryable is False
    assert "payment declined" in str(raised.value)
    assert fake_stripe.subscriptions == []
    assert fake_stripe.invoices == []


async def test_an_upgrade_applies_only_once_its_payment_is_authenticated(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    subscription = await stripe_gateway.create_subscription(
        customer, PLUS, "pm_card_authenticationRequired", "subscribe-1"
    )
    fake_stripe.complete_payment(subscription.external_id)
    fake_stripe.advance_time(HALF_PERIOD)

    waiting = await stripe_gateway.change_plan(subscription.external_id, PRO, prorate=True, idempotency_key="up-1")

    assert (waiting.status, waiting.plan) == ("active", "plus")
    assert waiting.client_secret is not None
    assert waiting.latest_invoice is not None
    assert (waiting.latest_invoice.amount_cents, waiting.latest_invoice.paid) == (1500, False)
    fake_stripe.complete_payment(subscription.external_id)
    upgraded = await stripe_gateway.retrieve_subscription(subscription.external_id)
    assert (upgraded.plan, upgraded.client_secret) == ("pro", None)


async def test_a_subscription_whose_first_invoice_is_never_paid_expires_as_canceled(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    subscription = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_chargeCustomerFail", "subscribe-1")
    assert (subscription.status, subscription.client_secret is not None) == ("incomplete", True)

    fake_stripe.advance(subscription.external_id)

    expired = await stripe_gateway.retrieve_subscription(subscription.external_id)
    assert fake_stripe.subscriptions[0]["status"] == "incomplete_expired"
    assert expired.status == "canceled"


# --- Stripe only: failures and retries ------------------------------------------------------------------


async def test_a_server_error_is_retried_by_the_sdk_with_the_same_key_and_creates_one_subscription(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    fake_stripe.fail_next(Fault(status=500, path="/v1/subscriptions"))

    subscription = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")

    attempts = [(r.status, r.idempotency_key) for r in fake_stripe.requests if r.path == "/v1/subscriptions"]
    assert attempts == [(500, "subscribe-1"), (200, "subscribe-1")]
    assert [s["id"] for s in fake_stripe.subscriptions] == [subscription.external_id]


async def test_a_connection_dropped_after_stripe_created_the_subscription_is_replayed_not_repeated(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    fake_stripe.fail_next(Fault(drop=True, path="/v1/subscriptions"))

    subscription = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")

    attempts = [(r.idempotency_key, r.replayed) for r in fake_stripe.requests if r.path == "/v1/subscriptions"]
    assert attempts == [("subscribe-1", False), ("subscribe-1", True)]
    assert [s["id"] for s in fake_stripe.subscriptions] == [subscription.external_id]
    assert len(fake_stripe.invoices) == 1


@pytest.mark.parametrize(
    "fault",
    [Fault(status=500), Fault(status=503), Fault(status=429), Fault(drop=True)],
    ids=["500", "503", "429", "dropped-connection"],
)
async def test_a_failure_left_after_the_sdks_retries_is_worth_retrying(
    fake_stripe: FakeStripe,
    fault: Fault,
) -> None:
    gateway = stripe_gateway_for(fake_stripe, max_network_retries=0)
    fake_stripe.fail_next(fault)

    with pytest.raises(GatewayError) as raised:
        await gateway.ensure_customer(uuid4(), "ada@example.com", None)

    await gateway.aclose()
    assert raised.value.retryable is True


async def test_an_unreachable_stripe_is_worth_retrying(fake_stripe: FakeStripe) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    gateway = stripe_gateway_for(fake_stripe, api_base=f"http://127.0.0.1:{closed_port}", max_network_retries=0)

    with pytest.raises(GatewayError) as raised:
        await gateway.ensure_customer(uuid4(), "ada@example.com", None)

    await gateway.aclose()
    assert raised.value.retryable is True


async def test_a_wrong_api_key_is_an_error_worth_no_retry(fake_stripe: FakeStripe) -> None:
    gateway = StripePaymentGateway("sk_test_wrong", fake_stripe.prices, api_base=fake_stripe.api_base)

    with pytest.raises(GatewayError) as raised:
        await gateway.ensure_customer(uuid4(), "ada@example.com", None)

    await gateway.aclose()
    assert raised.value.retryable is False
    assert fake_stripe.customers == []


# --- Stripe only: events in billing's words -------------------------------------------------------------------


async def test_stripe_renews_itself_and_its_renewal_events_name_the_subscription_and_the_invoice(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    subscription = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")
    await stripe_gateway.report_overage(customer, 2_500, "overage-1")
    fake_stripe.advance_clock(add_month(START))
    renewed = await stripe_gateway.retrieve_subscription(subscription.external_id)

    parsed = {e["type"]: stripe_gateway.parse_event(e) for e in fake_stripe.events[-5:]}

    assert stripe_gateway.renews_itself is True
    assert parsed["customer.subscription.updated"] == GatewayEvent(
        GatewayEventKind.SUBSCRIPTION_CHANGED, subscription.external_id
    )
    paid = parsed["invoice.paid"]
    assert (paid.kind, paid.subscription_external_id) == (GatewayEventKind.INVOICE_PAID, subscription.external_id)
    assert paid.invoice == renewed.latest_invoice
    assert paid.invoice is not None and paid.invoice.amount_cents == 2_000 + 3 * 2  # the plan, 3 started thousands
    assert (paid.invoice.period_start, paid.invoice.period_end) == (add_month(START), add_month(START, 2))
    assert parsed["invoice.created"].kind is GatewayEventKind.OTHER


async def test_a_failed_stripe_payment_parses_with_the_amount_due(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    subscription = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")
    fake_stripe.fail_future_charges(subscription.external_id)
    fake_stripe.advance(subscription.external_id)
    [failed] = [e for e in fake_stripe.events if e["type"] == "invoice.payment_failed"]

    parsed = stripe_gateway.parse_event(failed)

    assert (parsed.kind, parsed.subscription_external_id) == (
        GatewayEventKind.INVOICE_PAYMENT_FAILED,
        subscription.external_id,
    )
    assert parsed.invoice is not None
    assert (parsed.invoice.amount_cents, parsed.invoice.currency, parsed.invoice.paid) == (2_000, "usd", False)


def test_an_invoice_of_an_older_api_version_names_its_subscription_directly(
    stripe_gateway: StripePaymentGateway, fake_stripe: FakeStripe
) -> None:
    invoice = {"id": "in_1", "object": "invoice", "currency": "usd", "amount_due": 900, "amount_paid": 900}
    invoice |= {"status": "paid", "subscription": "sub_old", "period_start": 1, "period_end": 2}

    parsed = stripe_gateway.parse_event(fake_stripe.event("invoice.paid", invoice))

    assert parsed.subscription_external_id == "sub_old"
    assert parsed.invoice is not None and (parsed.invoice.amount_cents, parsed.invoice.paid) == (900, True)


def test_a_malformed_stripe_event_of_a_handled_kind_is_an_error_worth_no_retry(
    stripe_gateway: StripePaymentGateway, fake_stripe: FakeStripe
) -> None:
    with pytest.raises(GatewayError) as raised:
        stripe_gateway.parse_event(fake_stripe.event("invoice.paid", {"id": "in_1", "object": "invoice"}))

    assert raised.value.retryable is False


# --- webhook signatures -----------------------------------------------------------------------------------


async def test_a_webhook_stripe_signed_gives_the_event(
    stripe_gateway: StripePaymentGateway,
    fake_stripe: FakeStripe,
) -> None:
    customer = await stripe_gateway.ensure_customer(uuid4(), "ada@example.com", None)
    subscription = await stripe_gateway.create_subscription(customer, PLUS, "pm_card_visa", "subscribe-1")
    renewal = fake_stripe.advance(subscription.external_id)
    assert renewal is not None
    paid = next(
        e for e in fake_stripe.events if e["type"] == "invoice.paid" and e["data"]["object"]["id"] == renewal["id"]
    )

    event = construct_event(*fake_stripe.signed(paid), fake_stripe.webhook_secret)

    assert event == paid
    assert event["data"]["object"]["parent"]["subscription_details"]["subscription"] == subscription.external_id


def test_a_webhook_signed_within_the_tolerance_is_accepted(fake_stripe: FakeStripe) -> None:
    event = fake_stripe.event("customer.subscription.updated", {"id": "sub_123", "object": "subscription"})

    accepted = construct_event(*fake_stripe.signed(event, timestamp=int(time.time()) - 250), fake_stripe.webhook_secret)

    assert accepted["id"] == event["id"]


@pytest.mark.parametrize(
    "forge",
    [
        lambda fake, event: fake.signed(event, tamper=True),
        lambda fake, event: fake.signed(event, secret="whsec_someone_else"),
        lambda fake, event: fake.signed(event, timestamp=int(time.time()) - 301),
        lambda fake, event: fake.signed(event, timestamp=int(time.time()) + 301),
        lambda fake, event: (json.dumps(event).encode(), "t=1,v2=abc"),
        lambda fake, event: (json.dumps(event).encode(), ""),
        lambda fake, event: (
            b"\xff" + json.dumps(event).encode(),
            fake.signature_header(b"\xff" + json.dumps(event).encode()),
        ),
    ],
    ids=["tampered-body", "wrong-secret", "stale", "from-the-future", "no-v1-signature", "no-header", "not-utf8"],
)
def test_a_webhook_not_signed_by_stripe_just_now_is_refused(
    fake_stripe: FakeStripe,
    forge: Callable[[FakeStripe, dict[str, Any]], tuple[bytes, str]],
) -> None:
    event = fake_stripe.event("invoice.paid", {"id": "in_123", "object": "invoice"})

    with pytest.raises(InvalidSignature):
        construct_event(*forge(fake_stripe, event), fake_stripe.webhook_secret)
