"""A deleted account (identity.account_deleted): its subscription ends at once, at the gateway too, without an
email; its payments stay; running the job again changes nothing."""

from __future__ import annotations

from datetime import timedelta

from application.shared import topics
from application.shared.ports import OutboxMessage
from domain.billing.model import FREE, SubscriptionStatus
from tests.unit.billing.conftest import BillingKit


async def account_deleted(kit: BillingKit, user_id: object) -> None:
    payload = {"user_id": str(user_id)}
    await kit.outbox(OutboxMessage(topic=topics.ACCOUNT_DELETED, payload=payload, created_at=kit.clock.now()))


async def test_a_paid_subscription_ends_at_once_at_the_gateway_and_the_payments_stay(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    await kit.run_jobs()
    emails_before = kit.emails(account.email)

    await account_deleted(kit, account.user_id)
    assert await kit.run_jobs() == 1

    ended = await kit.subscription(account.user_id)
    assert ended.status is SubscriptionStatus.CANCELED
    assert ended.external_id is not None
    remote = await kit.gateway.retrieve_subscription(ended.external_id)
    assert remote.status is SubscriptionStatus.CANCELED
    assert (await kit.stored_account(account.user_id)).plan == FREE
    assert len(await kit.payments(account.user_id)) == 1
    assert kit.emails(account.email) == emails_before
    kit.clock.advance(timedelta(days=31))
    assert await kit.run_cycle() == 0
    assert len(await kit.payments(account.user_id)) == 1


async def test_a_subscription_set_to_cancel_ends_now_too_and_a_second_delivery_changes_nothing(
    kit: BillingKit,
) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "pro")
    await kit.cancel(account.user_id)
    await account_deleted(kit, account.user_id)
    await kit.run_jobs()
    first = await kit.subscription(account.user_id)

    await account_deleted(kit, account.user_id)
    await kit.run_jobs()

    assert first.status is SubscriptionStatus.CANCELED
    assert await kit.subscription(account.user_id) == first


async def test_a_free_account_has_nothing_to_cancel(kit: BillingKit) -> None:
    account = await kit.account()

    await account_deleted(kit, account.user_id)

    assert await kit.run_jobs() == 1
    assert (await kit.get_subscription(account.user_id)).plan == FREE


async def test_a_billing_email_queued_before_the_deletion_is_never_sent(kit: BillingKit) -> None:
    account = await kit.account()
    await kit.subscribe(account.user_id, "plus")
    async with kit.uow() as uow:
        user = await uow.users.get(account.user_id)
        assert user is not None
        user.erase(kit.clock.now())
        await uow.users.update(user)
        await uow.commit()
    await account_deleted(kit, account.user_id)

    await kit.run_jobs()

    assert kit.mailer.sent == []
    assert (await kit.subscription(account.user_id)).status is SubscriptionStatus.CANCELED
