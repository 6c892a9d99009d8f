"""Billing's emails: quota warnings once per user, period and threshold; nothing for a vanished account."""

from __future__ import annotations

from application.shared import topics
from application.shared.ports import OutboxMessage
from domain.billing.model import add_month
from domain.shared.ids import new_id
from tests.factories.billing import START
from tests.unit.billing.conftest import BillingKit


def threshold_message(user_id: object, threshold: int, period_start: object = START) -> OutboxMessage:
    payload = {
        "user_id": str(user_id),
        "threshold": threshold,
        "plan": "free",
        "limit": 10_000,
        "period_start": str(period_start),
        "period_end": str(add_month(START)),
    }
    return OutboxMessage(topic=topics.QUOTA_THRESHOLD, payload=payload, created_at=START)


async def test_a_quota_warning_goes_out_once_per_period_and_threshold(kit: BillingKit) -> None:
    account = await kit.account()
    for threshold in (80, 80, 100):
        await kit.outbox(threshold_message(account.user_id, threshold))
    await kit.outbox(threshold_message(account.user_id, 80, period_start=add_month(START)))

    await kit.run_jobs()

    warnings = [m for m in kit.mailer.sent if m.subject == "quota_warning"]
    assert [("threshold=80" in m.text, "threshold=100" in m.text) for m in warnings] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    assert all(m.to == account.email and "quota=10,000" in m.text for m in warnings)


async def test_an_email_for_an_account_that_is_gone_is_not_sent(kit: BillingKit) -> None:
    await kit.outbox(threshold_message(new_id(), 80))

    assert await kit.run_jobs() == 2  # the notice, then its email job, which finds no one to write to
    assert kit.mailer.sent == []
