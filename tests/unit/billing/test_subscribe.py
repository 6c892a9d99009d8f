"""Subscribing on the local gateway: a first subscription, an upgrade at once, a downgrade at the period end,
the current plan again to withdraw what was scheduled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.billing.errors import UnknownPlan
from domain.billing.model import FREE, add_month
from domain.shared.errors import NotFound
from domain.shared.ids import new_id
from tests.factories.billing import START
from tests.unit.billing.conftest import BillingKit


async def test_a_first_subscription_raises_the_plan_at_once_and_records_the_paid_invoice(kit: BillingKit) -> None:
    account = await kit.account()

    view = await kit.subscribe(account.user_id, "plus")
    await kit.run_jobs()

    assert (view.plan, view.status, view.current_period_start, view.current_period_end) == (
        "plus",
        "active",
        START,
        add_month(START),
    )
    assert (await kit.stored_account(account.user_id)).plan == "plus"
    [payment] = await kit.payments(account.user_id)
    assert (payment.amount_cents, payment.currency, payment.plan) == (2_000, "usd", "plus")
    assert kit.emails(account.email) == ["subscription_confirmed", "payment_receipt"]


async def test_choosing_free_without_a_subscription_changes_nothing(kit: BillingKit) -> None:
    account = await kit.account()

    view = await kit.subscribe(account.user_id, FREE)

    assert (view.plan, view.status) == ("free", "active")
    assert await kit.payments(account.user_id) == []


async def test_an_upgrade_applies_at_once_and_charges_the_difference_for_the_rest_of_the_period(
    kit: BillingKit,
) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    kit.clock.advance((add_month(START) - START) / 2)

    view = await kit.subscribe(account.user_id, "pro")

    assert (view.plan, view.pending_plan) == ("pro", None)
    assert (await kit.stored_account(account.user_id)).plan == "pro"
    assert [p.amount_cents for p in await kit.payments(account.user_id)] == [1_500, 2_000]  # half of $30 more


async def test_a_downgrade_keeps_the_plan_until_the_period_ends_then_bills_the_lower_price(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "pro")

    view = await kit.subscribe(account.user_id, "plus")

    assert (view.plan, view.pending_plan) == ("pro", "plus")
    assert (await kit.stored_account(account.user_id)).plan == "pro"
    kit.clock.advance(timedelta(days=31))
    assert await kit.run_cycle() == 1
    renewed = await kit.subscription(account.user_id)
    assert (renewed.plan, renewed.pending_plan) == ("plus", None)
    assert (await kit.stored_account(account.user_id)).plan == "plus"
    assert [p.amount_cents for p in await kit.payments(account.user_id)] == [2_000, 5_000]


async def test_the_current_plan_again_withdraws_a_scheduled_downgrade(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "pro")
    await kit.subscribe(account.user_id, "plus")

    view = await kit.subscribe(account.user_id, "pro")

    assert (view.plan, view.pending_plan) == ("pro", None)
    kit.clock.advance(timedelta(days=31))
    await kit.run_cycle()
    assert [p.amount_cents for p in await kit.payments(account.user_id)] == [5_000, 5_000]  # renewed on pro


async def test_downgrading_to_free_is_a_cancel_at_the_period_end(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")

    view = await kit.subscribe(account.user_id, FREE)

    assert (view.plan, view.cancel_at_period_end, view.pending_plan) == ("plus", True, FREE)


async def test_an_unknown_plan_is_refused_on_the_plan_field(kit: BillingKit) -> None:
    account = await kit.account()

    with pytest.raises(UnknownPlan) as refused:
        await kit.subscribe(account.user_id, "platinum")

    assert refused.value.field == "plan"


async def test_an_unknown_account_cannot_subscribe(kit: BillingKit) -> None:
    with pytest.raises(NotFound):
        await kit.subscribe(new_id(), "plus")
