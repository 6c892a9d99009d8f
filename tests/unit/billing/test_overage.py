"""Overage on the local gateway: conversation's per-reply overage messages are served, and the period's tokens
beyond the quota are billed once, on the renewal that closes it, however many messages there were."""

from __future__ import annotations

from datetime import timedelta

from application.shared import topics
from application.shared.ports import OutboxMessage
from domain.billing.model import add_month
from domain.shared.ids import new_id
from tests.factories.billing import START
from tests.unit.billing.conftest import OVERAGE_CENTS, BillingKit


def overage_message(user_id: object, tokens: int) -> OutboxMessage:
    payload = {"user_id": str(user_id), "tokens": tokens, "usage_id": str(new_id())}
    return OutboxMessage(topic=topics.OVERAGE, payload=payload, created_at=START)


async def test_overage_replies_and_the_renewal_bill_the_period_once(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    period = (START, add_month(START))
    await kit.spend(account.user_id, 100_000, period)
    for tokens in (4_000, 6_000):  # two replies beyond the 100,000-token quota
        await kit.spend(account.user_id, tokens, period)
        await kit.outbox(overage_message(account.user_id, tokens))

    assert await kit.run_jobs() >= 2  # the overage jobs ran (and did not bill on their own)
    kit.clock.advance(timedelta(days=28))
    await kit.run_cycle()

    latest, first = await kit.payments(account.user_id)
    assert (first.amount_cents, latest.amount_cents) == (2_000, 2_000 + 10 * OVERAGE_CENTS)


async def test_overage_of_a_user_without_a_subscription_is_dropped(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.outbox(overage_message(account.user_id, 5_000))

    assert await kit.run_jobs() == 1
    assert await kit.payments(account.user_id) == []
