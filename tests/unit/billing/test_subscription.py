"""The subscription's transitions, pure: what each does to the plan, the period, the status and what is
scheduled. No I/O: the gateway's answers are handed in as values."""

from __future__ import annotations

from datetime import timedelta

from domain.billing.model import FREE, SubscriptionStatus, add_month
from tests.factories.billing import START, GatewaySubscriptionFactory, SubscriptionFactory

LATER = START + timedelta(days=3)
NEXT_START = add_month(START)
NEXT_END = add_month(START, 2)


def test_an_upgrade_applies_at_once_and_drops_a_scheduled_downgrade_or_cancel() -> None:
    subscription = SubscriptionFactory.build(plan="plus", pending_plan=FREE, cancel_at_period_end=True)

    subscription.upgrade("pro", SubscriptionStatus.ACTIVE, LATER)

    assert (subscription.plan, subscription.pending_plan, subscription.cancel_at_period_end) == ("pro", None, False)
    assert subscription.entitled_plan == "pro" and subscription.updated_at == LATER


def test_an_upgrade_waiting_for_the_customer_changes_nothing_but_the_client_secret() -> None:
    subscription = SubscriptionFactory.build(plan="plus")

    subscription.await_payment("pi_secret", LATER)

    assert (subscription.plan, subscription.client_secret) == ("plus", "pi_secret")


def test_a_downgrade_waits_for_the_period_end_and_the_next_invoice_charges_it() -> None:
    subscription = SubscriptionFactory.build(plan="pro")

    subscription.downgrade("plus", LATER)

    assert (subscription.plan, subscription.pending_plan, subscription.next_plan) == ("pro", "plus", "plus")
    assert subscription.entitled_plan == "pro"


def test_a_cancel_is_scheduled_once_and_keeps_the_plan_until_the_period_end() -> None:
    subscription = SubscriptionFactory.build(plan="plus")

    assert subscription.schedule_cancel(LATER) is True
    assert subscription.schedule_cancel(LATER) is False
    assert (subscription.cancel_at_period_end, subscription.pending_plan) == (True, FREE)
    assert (subscription.entitled_plan, subscription.next_plan) == ("plus", "plus")


def test_reactivating_withdraws_a_scheduled_cancel() -> None:
    subscription = SubscriptionFactory.build(cancel_at_period_end=True, pending_plan=FREE)

    subscription.reactivate(LATER)

    assert (subscription.cancel_at_period_end, subscription.pending_plan) == (False, None)


def test_a_renewal_starts_the_next_period_and_applies_a_pending_downgrade() -> None:
    subscription = SubscriptionFactory.build(plan="pro", pending_plan="plus", status=SubscriptionStatus.PAST_DUE)

    subscription.renew(NEXT_START, NEXT_END, NEXT_START)

    assert (subscription.plan, subscription.pending_plan) == ("plus", None)
    assert (subscription.current_period_start, subscription.current_period_end) == (NEXT_START, NEXT_END)
    assert subscription.status is SubscriptionStatus.ACTIVE


def test_past_due_still_grants_the_plan_and_canceled_grants_free() -> None:
    subscription = SubscriptionFactory.build(plan="pro", pending_plan=FREE, cancel_at_period_end=True)

    subscription.mark_past_due(LATER)
    assert subscription.grants_plan and subscription.entitled_plan == "pro"

    subscription.mark_canceled(LATER)
    assert not subscription.grants_plan and subscription.entitled_plan == FREE
    assert subscription.pending_plan is None


def test_a_sync_to_a_later_period_is_a_renewal() -> None:
    subscription = SubscriptionFactory.build(plan="pro", pending_plan="plus")
    remote = GatewaySubscriptionFactory.build(plan="plus", current_period_start=NEXT_START, current_period_end=NEXT_END)

    subscription.sync(remote, NEXT_START)

    assert (subscription.plan, subscription.pending_plan) == ("plus", None)
    assert (subscription.current_period_start, subscription.current_period_end) == (NEXT_START, NEXT_END)


def test_a_sync_keeps_a_waiting_downgrade_while_the_gateway_already_shows_the_lower_plan() -> None:
    subscription = SubscriptionFactory.build(plan="pro", pending_plan="plus")

    subscription.sync(GatewaySubscriptionFactory.build(plan="plus"), LATER)

    assert (subscription.plan, subscription.pending_plan) == ("pro", "plus")


def test_a_sync_adopts_a_plan_the_customer_paid_for_and_forgets_the_client_secret() -> None:
    subscription = SubscriptionFactory.build(plan="plus", client_secret="pi_secret")

    subscription.sync(GatewaySubscriptionFactory.build(plan="pro"), LATER)

    assert (subscription.plan, subscription.client_secret) == ("pro", None)


def test_a_sync_to_canceled_ends_the_subscription() -> None:
    subscription = SubscriptionFactory.build(plan="plus", cancel_at_period_end=True, pending_plan=FREE)

    subscription.sync(GatewaySubscriptionFactory.build(status=SubscriptionStatus.CANCELED), LATER)

    assert subscription.status is SubscriptionStatus.CANCELED and subscription.pending_plan is None
    assert subscription.entitled_plan == FREE


def test_a_sync_of_an_incomplete_subscription_takes_the_client_secret_to_confirm() -> None:
    subscription = SubscriptionFactory.build(status=SubscriptionStatus.INCOMPLETE)

    subscription.sync(GatewaySubscriptionFactory.build(status=SubscriptionStatus.INCOMPLETE, client_secret="s"), LATER)

    assert (subscription.status, subscription.client_secret, subscription.grants_plan) == (
        SubscriptionStatus.INCOMPLETE,
        "s",
        False,
    )


def test_a_sync_after_the_first_invoice_is_paid_forgets_the_client_secret() -> None:
    subscription = SubscriptionFactory.build(status=SubscriptionStatus.INCOMPLETE, client_secret="pi_secret")

    subscription.sync(GatewaySubscriptionFactory.build(status=SubscriptionStatus.ACTIVE, client_secret=None), LATER)

    assert (subscription.status, subscription.client_secret) == (SubscriptionStatus.ACTIVE, None)


def test_a_sync_keeps_the_client_secret_of_an_upgrade_still_waiting_for_its_payment() -> None:
    subscription = SubscriptionFactory.build(plan="plus", client_secret="pi_upgrade_secret")

    subscription.sync(GatewaySubscriptionFactory.build(plan="plus", client_secret="pi_upgrade_secret"), LATER)

    assert (subscription.plan, subscription.status, subscription.client_secret) == (
        "plus",
        SubscriptionStatus.ACTIVE,
        "pi_upgrade_secret",
    )
