"""Cancelling: at the period end, with the plan kept until then, one email, nothing renewed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.billing.errors import NoSubscription
from domain.billing.model import FREE, SubscriptionStatus
from tests.unit.billing.conftest import BillingKit


async def test_a_cancel_keeps_the_plan_until_the_period_end_and_is_announced_once(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")

    view = await kit.cancel(account.user_id)
    again = await kit.cancel(account.user_id)
    await kit.run_jobs()

    assert (view.plan, view.cancel_at_period_end) == ("plus", True) and again == view
    assert (await kit.stored_account(account.user_id)).plan == "plus"
    assert kit.emails(account.email).count("cancellation_scheduled") == 1


async def test_at_the_period_end_a_canceled_subscription_ends_without_a_charge(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    await kit.cancel(account.user_id)

    kit.clock.advance(timedelta(days=31))
    assert await kit.run_cycle() == 1

    ended = await kit.subscription(account.user_id)
    assert (ended.status, ended.pending_plan) == (SubscriptionStatus.CANCELED, None)
    assert (await kit.stored_account(account.user_id)).plan == FREE
    assert len(await kit.payments(account.user_id)) == 1
    assert (await kit.get_subscription(account.user_id)).plan == FREE


async def test_cancelling_without_a_subscription_is_refused(kit: BillingKit) -> None:
    account = await kit.account()

    with pytest.raises(NoSubscription):
        await kit.cancel(account.user_id)
