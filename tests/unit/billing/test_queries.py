"""Reading billing: plans, the subscription a user sees (free users too), the period's usage, payments page by
page, and an invoice."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.billing.model import SubscriptionStatus, add_month
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.ids import new_id
from tests.factories.billing import START, PaymentFactory, SubscriptionFactory
from tests.unit.billing.conftest import BillingKit


def test_plans_are_listed_cheapest_first(kit: BillingKit) -> None:
    assert [(p.id, p.price_cents, p.token_quota) for p in kit.list_plans()] == [
        ("free", 0, 10_000),
        ("plus", 2_000, 100_000),
        ("pro", 5_000, 500_000),
    ]


async def test_a_free_user_sees_the_free_plan_over_the_month_from_signup(kit: BillingKit) -> None:
    account = await kit.account(created_at=START)
    kit.clock.advance(timedelta(days=40))

    view = await kit.get_subscription(account.user_id)

    assert (view.plan, view.status, view.current_period_start, view.current_period_end) == (
        "free",
        "active",
        add_month(START),
        add_month(START, 2),
    )


async def test_an_unknown_user_has_no_subscription_view(kit: BillingKit) -> None:
    with pytest.raises(NotFound):
        await kit.get_subscription(new_id())


async def test_usage_is_the_paid_periods_quota_and_what_was_spent_of_it(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    await kit.spend(account.user_id, 1_234, (START, add_month(START)))

    usage = await kit.get_usage(account.user_id, "plus")

    assert (usage.plan, usage.token_quota, usage.tokens_used, usage.remaining) == ("plus", 100_000, 1_234, 98_766)
    assert (usage.period_start, usage.period_end) == (START, add_month(START))


async def test_payments_come_newest_first_page_by_page(kit: BillingKit) -> None:
    account = await kit.account()
    stored = [PaymentFactory.build(user_id=account.user_id, created_at=START + timedelta(days=i)) for i in range(5)]
    async with kit.uow() as uow:
        for payment in [*stored, PaymentFactory.build()]:  # and someone else's
            await uow.payments.add(payment)
        await uow.commit()

    first = await kit.list_payments(account.user_id, limit=3)
    assert first.next_cursor is not None
    second = await kit.list_payments(account.user_id, limit=3, cursor=first.next_cursor)

    assert [p.id for p in [*first.items, *second.items]] == [p.id for p in reversed(stored)]
    assert second.next_cursor is None
    with pytest.raises(InvalidInput):
        await kit.list_payments(account.user_id, limit=0)


async def test_an_invoice_page_shows_the_payment_to_whoever_holds_its_signed_link(kit: BillingKit) -> None:
    account = await kit.account(name="Ada Lovelace")
    payment = PaymentFactory.build(user_id=account.user_id, amount_cents=2_000)
    async with kit.uow() as uow:
        await uow.payments.add(payment)
        await uow.commit()
    signature = kit.invoice_links.invoice_url(payment.id).rpartition("sig=")[2]

    page = await kit.show_invoice(payment.id, signature)

    assert "Ada Lovelace" in page and "20.00" in page
    with pytest.raises(NotFound):  # a forged signature
        await kit.show_invoice(payment.id, "x" * len(signature))
    with pytest.raises(NotFound):  # a signature of another invoice
        await kit.show_invoice(new_id(), signature)


async def test_a_subscription_waiting_for_the_card_is_shown_with_its_client_secret(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.store(
        SubscriptionFactory.build(
            user_id=account.user_id, status=SubscriptionStatus.INCOMPLETE, client_secret="pi_123_secret_456"
        )
    )

    view = await kit.get_subscription(account.user_id)

    assert (view.plan, view.status, view.client_secret) == ("plus", "incomplete", "pi_123_secret_456")


async def test_a_canceled_subscription_shows_the_free_plan(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.store(SubscriptionFactory.build(user_id=account.user_id, status=SubscriptionStatus.CANCELED))

    assert (await kit.get_subscription(account.user_id)).plan == "free"
