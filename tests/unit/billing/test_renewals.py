"""The billing cycle on the local gateway: each ended period is closed once, charged with its overage."""

from __future__ import annotations

from datetime import timedelta

from domain.billing.model import SubscriptionStatus, add_month
from tests.factories.billing import START, SubscriptionFactory
from tests.unit.billing.conftest import OVERAGE_CENTS, BillingKit


async def test_nothing_is_renewed_before_the_period_ends(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    kit.clock.advance(add_month(START) - START - timedelta(seconds=1))

    assert await kit.run_cycle() == 0
    assert len(await kit.payments(account.user_id)) == 1


async def test_a_renewal_charges_the_next_period_once(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    kit.clock.advance(timedelta(days=28))

    assert await kit.run_cycle() == 1
    assert await kit.run_cycle() == 0
    await kit.run_jobs()

    renewed = await kit.subscription(account.user_id)
    assert (renewed.current_period_start, renewed.current_period_end) == (add_month(START), add_month(START, 2))
    assert renewed.status is SubscriptionStatus.ACTIVE
    latest, _first = await kit.payments(account.user_id)
    assert (latest.amount_cents, latest.period_start, latest.period_end) == (
        2_000,
        add_month(START),
        add_month(START, 2),
    )
    assert kit.emails(account.email).count("payment_receipt") == 2


async def test_every_missed_period_is_closed_on_later_cycles(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    kit.clock.advance(timedelta(days=62))  # two periods ended while nothing ran

    renewals = [await kit.run_cycle() for _ in range(3)]

    assert renewals == [1, 1, 0]
    assert (await kit.subscription(account.user_id)).current_period_start == add_month(START, 2)
    assert len(await kit.payments(account.user_id)) == 3


async def test_the_closing_periods_tokens_beyond_the_quota_are_billed_once_on_the_renewal(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")  # 100,000 tokens, overage at 50 cents per started 1,000
    period = (START, add_month(START))
    await kit.spend(account.user_id, 90_000, period)
    await kit.spend(account.user_id, 30_001, period)
    kit.clock.advance(timedelta(days=28))

    await kit.run_cycle()
    await kit.run_cycle()

    latest, _first = await kit.payments(account.user_id)
    assert latest.amount_cents == 2_000 + 21 * OVERAGE_CENTS  # 20,001 tokens beyond: 21 started thousands


async def test_a_plan_without_an_overage_rate_bills_only_its_price(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "pro")
    await kit.spend(account.user_id, 600_000, (START, add_month(START)))
    kit.clock.advance(timedelta(days=28))

    await kit.run_cycle()

    assert [p.amount_cents for p in await kit.payments(account.user_id)] == [5_000, 5_000]


async def test_a_subscription_recorded_before_a_restart_renews_from_parleys_record(kit: BillingKit) -> None:
    account = await kit.account(plan="plus")
    recorded = await kit.store(SubscriptionFactory.build(user_id=account.user_id, plan="plus"))
    kit.clock.advance(timedelta(days=28))

    assert await kit.run_cycle() == 1

    renewed = await kit.subscription(account.user_id)
    assert renewed.id == recorded.id and renewed.current_period_start == recorded.current_period_end
    [payment] = await kit.payments(account.user_id)
    assert payment.amount_cents == 2_000
