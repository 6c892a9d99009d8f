"""One suite for billing's repositories, run against memory, SQLite and PostgreSQL: subscriptions, payments,
invoice numbers, received webhook events and quota notices read back the same on every store, and what must
happen once (an invoice recorded, an event received, a notice sent, a renewal claimed) happens once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol
from uuid import UUID, uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sql.unit_of_work import SqlUnitOfWork
from application.billing.ports import Account, BillingUnitOfWork, ReceivedEvent
from application.identity.ports import IdentityUnitOfWork
from domain.billing.grant import Grant
from domain.billing.model import InvoiceLine, Payment, PaymentStatus, Subscription, SubscriptionStatus
from domain.identity.model import Role, User
from domain.shared.errors import Conflict
from domain.shared.ids import new_id


class BillingStoreUnitOfWork(IdentityUnitOfWork, BillingUnitOfWork, Protocol):
    """Users (every subscription and payment has an owner) and billing's repositories, in one transaction."""


UowFactory = Callable[[], BillingStoreUnitOfWork]

# Not UTC, with microseconds: stores must keep the instant exactly and hand back an aware datetime.
PLUS_TWO = timezone(timedelta(hours=2))
T0 = datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=PLUS_TWO)
PERIOD = datetime(2026, 3, 1, tzinfo=UTC)


async def stored_user(uow_factory: UowFactory, email: str = "ada@example.com") -> User:
    user = User(
        id=new_id(),
        email=email,
        name="Ada Lovelace",
        password_hash="$argon2id$hash",
        role=Role.USER,
        plan="free",
        created_at=T0,
    )
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


def a_subscription(user: User, **changes: Any) -> Subscription:
    subscription = Subscription(
        id=new_id(),
        user_id=user.id,
        plan="plus",
        status=SubscriptionStatus.ACTIVE,
        gateway="local",
        current_period_start=T0,
        current_period_end=T0 + timedelta(days=31),
        created_at=T0,
        updated_at=T0,
    )
    return replace(subscription, **changes)


def a_payment(user: User, **changes: Any) -> Payment:
    payment = Payment(
        id=new_id(),
        user_id=user.id,
        amount_cents=2_000,
        currency="usd",
        status=PaymentStatus.SUCCEEDED,
        description="Parley Plus, March 2026",
        period_start=T0,
        period_end=T0 + timedelta(days=31),
        created_at=T0,
        invoice_number=f"PRL-{uuid4().hex[:12]}",
    )
    return replace(payment, **changes)


def an_event(event_id: str = "evt_1", **changes: Any) -> ReceivedEvent:
    event = ReceivedEvent(
        id=event_id,
        type="invoice.paid",
        payload={"id": event_id, "data": {"object": {"id": "in_1", "amount_paid": 2000, "paid": True}}},
        received_at=T0,
    )
    return replace(event, **changes)


async def stored(uow_factory: UowFactory, *items: Subscription | Payment | ReceivedEvent) -> None:
    async with uow_factory() as uow:
        for item in items:
            if isinstance(item, Subscription):
                await uow.subscriptions.add(item)
            elif isinstance(item, Payment):
                await uow.payments.add(item)
            else:
                assert await uow.received_events.add(item)
        await uow.commit()


def assert_aware(*moments: datetime | None) -> None:
    for moment in moments:
        assert moment is not None and moment.utcoffset() is not None


# --- accounts -----------------------------------------------------------------------------------


async def test_an_account_is_the_user_as_billing_sees_it(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)

    async with uow_factory() as uow:
        account = await uow.accounts.get(ada.id)
        assert await uow.accounts.get(new_id()) is None

    assert account == Account(user_id=ada.id, email=ada.email, name=ada.name, plan="free", created_at=ada.created_at)
    assert_aware(account.created_at)


async def test_set_plan_changes_that_users_plan_and_nothing_else(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")

    async with uow_factory() as uow:
        assert await uow.users.get(ada.id) == ada  # loaded before the change: it must not read back stale
        await uow.accounts.set_plan(ada.id, "pro")
        await uow.accounts.set_plan(new_id(), "pro")  # nobody: nothing happens
        in_unit = await uow.users.get(ada.id)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get(ada.id) == replace(ada, plan="pro")
        assert await uow.users.get(grace.id) == grace
        account = await uow.accounts.get(ada.id)
    assert in_unit == replace(ada, plan="pro")
    assert account is not None and account.plan == "pro"


# --- subscriptions ------------------------------------------------------------------------------


async def test_a_subscription_reads_back_with_every_field(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    subscription = a_subscription(
        ada,
        plan="pro",
        status=SubscriptionStatus.INCOMPLETE,
        gateway="stripe",
        current_period_start=T0 + timedelta(microseconds=1),
        current_period_end=T0 + timedelta(days=31, microseconds=2),
        cancel_at_period_end=True,
        pending_plan="plus",
        external_id="sub_1MowQVLkdIwHu7ix",
        customer_id="cus_NffrFeUfNV2Hib",
        client_secret="pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
        created_at=T0 - timedelta(days=3),
        updated_at=T0 + timedelta(minutes=1, microseconds=3),
    )
    await stored(uow_factory, subscription)

    async with uow_factory() as uow:
        mine = await uow.subscriptions.get_for_user(ada.id)
        by_external_id = await uow.subscriptions.get_by_external_id("sub_1MowQVLkdIwHu7ix")
        assert await uow.subscriptions.get_for_user(new_id()) is None
        assert await uow.subscriptions.get_by_external_id("sub_unknown") is None

    assert mine == subscription
    assert by_external_id == subscription
    assert mine is not None and isinstance(mine.status, SubscriptionStatus)
    assert_aware(mine.current_period_start, mine.current_period_end, mine.created_at, mine.updated_at)


async def test_a_subscription_without_gateway_ids_reads_back_with_its_defaults(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    subscription = a_subscription(ada)
    await stored(uow_factory, subscription)

    async with uow_factory() as uow:
        mine = await uow.subscriptions.get_for_user(ada.id)

    assert mine == subscription
    assert mine is not None and not mine.cancel_at_period_end and mine.pending_plan is None


async def test_update_stores_every_change(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    subscription = a_subscription(ada, status=SubscriptionStatus.INCOMPLETE, client_secret="pi_1_secret_2")
    untouched = a_subscription(grace, external_id="sub_grace")
    await stored(uow_factory, subscription, untouched)

    async with uow_factory() as uow:
        loaded = await uow.subscriptions.get_for_user(ada.id)
        assert loaded is not None
        loaded.status = SubscriptionStatus.PAST_DUE
        loaded.plan = "pro"
        loaded.pending_plan = "plus"
        loaded.cancel_at_period_end = True
        loaded.current_period_start = T0 + timedelta(days=31)
        loaded.current_period_end = T0 + timedelta(days=61, microseconds=9)
        loaded.external_id = "sub_ada"
        loaded.customer_id = "cus_ada"
        loaded.client_secret = None
        loaded.updated_at = T0 + timedelta(days=31, microseconds=7)
        await uow.subscriptions.update(loaded)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.subscriptions.get_for_user(ada.id) == loaded
        assert await uow.subscriptions.get_by_external_id("sub_ada") == loaded
        assert await uow.subscriptions.get_for_user(grace.id) == untouched


async def test_a_subscription_updated_in_the_unit_that_added_it_keeps_the_update(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    subscription = a_subscription(ada, status=SubscriptionStatus.INCOMPLETE)

    async with uow_factory() as uow:
        await uow.subscriptions.add(subscription)
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.external_id = "sub_1"
        await uow.subscriptions.update(subscription)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.subscriptions.get_for_user(ada.id) == subscription


async def test_a_users_subscription_is_their_newest_one(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    # Random (v4) ids, so "newest" is decided over the whole 128 bits, not just a creation-ordered prefix.
    mine = [a_subscription(ada, id=uuid4(), status=SubscriptionStatus.CANCELED) for _ in range(6)]
    newest = max(mine, key=lambda s: s.id.int)
    others = [a_subscription(grace, id=UUID(int=(1 << 128) - 1))]
    shuffled = [*mine, *others]
    random.shuffle(shuffled)
    await stored(uow_factory, *shuffled)

    async with uow_factory() as uow:
        assert await uow.subscriptions.get_for_user(ada.id) == newest
        assert await uow.subscriptions.get_for_user(grace.id) == others[0]


async def test_due_for_renewal_is_every_ended_renewing_period_oldest_first(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    now = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)

    def ended(user: User, ago: timedelta, status: SubscriptionStatus = SubscriptionStatus.ACTIVE) -> Subscription:
        return a_subscription(user, status=status, current_period_end=now - ago, id=uuid4())

    oldest = ended(ada, timedelta(days=3), SubscriptionStatus.PAST_DUE)
    tied = sorted((ended(ada, timedelta(days=1)), ended(grace, timedelta(days=1))), key=lambda s: s.id.int)
    trialing = ended(grace, timedelta(hours=1), SubscriptionStatus.TRIALING)
    just_now = ended(ada, timedelta(0))
    not_renewing = [
        ended(ada, timedelta(days=2), SubscriptionStatus.CANCELED),
        ended(grace, timedelta(days=2), SubscriptionStatus.INCOMPLETE),
    ]
    running = ended(grace, -timedelta(microseconds=1))
    await stored(uow_factory, running, just_now, *not_renewing, trialing, *tied, oldest)

    async with uow_factory() as uow:
        # The scheduler's clock may be written in any zone: it is the same instant.
        due = await uow.subscriptions.due_for_renewal(now.astimezone(PLUS_TWO), 10)
        first_two = await uow.subscriptions.due_for_renewal(now, 2)
        assert await uow.subscriptions.due_for_renewal(oldest.current_period_end - timedelta(microseconds=1), 10) == []

    assert due == [oldest, *tied, trialing, just_now]
    assert first_two == [oldest, tied[0]]


# --- payments -----------------------------------------------------------------------------------


async def test_a_payment_reads_back_with_every_field(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    payment = a_payment(
        ada,
        amount_cents=12_345_678_901,  # beyond 32 bits
        currency="eur",
        status=PaymentStatus.FAILED,
        description="Parley Pro — März 2026 ✓",
        period_start=T0 + timedelta(microseconds=1),
        period_end=T0 + timedelta(days=31, microseconds=2),
        created_at=T0 + timedelta(seconds=5, microseconds=3),
        invoice_number="PRL-000042",
        invoice_url="https://invoice.stripe.com/i/acct_1/test_YWNjdF8x?s=ap",
        external_id="in_1MtHbELkdIwHu7ixl4OzzPMv",
        plan="pro",
        lines=(
            InvoiceLine("Parley Pro (1 Mar – 1 Apr)", 5_000),
            InvoiceLine("Unused time on Parley Plus", -1_250),
            InvoiceLine("Overage: 12,000 tokens", 0),
        ),
    )
    await stored(uow_factory, payment)

    async with uow_factory() as uow:
        by_id = await uow.payments.get(payment.id)
        by_external_id = await uow.payments.get_by_external_id("in_1MtHbELkdIwHu7ixl4OzzPMv")
        assert await uow.payments.get(new_id()) is None
        assert await uow.payments.get_by_external_id("in_unknown") is None

    assert by_id == payment
    assert by_external_id == payment
    assert by_id is not None and isinstance(by_id.status, PaymentStatus)
    assert all(isinstance(line, InvoiceLine) for line in by_id.lines)
    assert_aware(by_id.period_start, by_id.period_end, by_id.created_at)


async def test_a_payment_without_gateway_invoice_or_lines_reads_back_with_its_defaults(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    payment = a_payment(ada, status=PaymentStatus.PENDING)
    await stored(uow_factory, payment)

    async with uow_factory() as uow:
        loaded = await uow.payments.get(payment.id)

    assert loaded == payment
    assert loaded is not None and loaded.lines == () and loaded.external_id is None and loaded.plan is None


async def test_payments_page_newest_first_without_gaps_or_repeats(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    # Three payments per instant, so ties cross page boundaries; random (v4) ids, so the id tie-break
    # is tested over the whole 128 bits.
    mine = [a_payment(ada, id=uuid4(), created_at=T0 + timedelta(days=n // 3)) for n in range(25)]
    others = [a_payment(grace, created_at=T0 + timedelta(days=n)) for n in range(3)]
    shuffled = [*mine, *others]
    random.shuffle(shuffled)
    await stored(uow_factory, *shuffled)

    pages: list[list[Payment]] = []
    before: tuple[datetime, UUID] | None = None
    async with uow_factory() as uow:
        for _ in range(4):  # bounded, so a cursor that does not move fails the test instead of hanging it
            page = list(await uow.payments.list_for_user(ada.id, 10, before))
            if not page:
                break
            pages.append(page)
            # A cursor in another time zone names the same instant.
            before = (page[-1].created_at.astimezone(UTC), page[-1].id)
        assert await uow.payments.list_for_user(new_id(), 10, None) == []

    assert [len(page) for page in pages] == [10, 10, 5]
    assert [p for page in pages for p in page] == sorted(mine, key=lambda p: (p.created_at, p.id.int), reverse=True)


async def test_a_gateway_invoice_is_recorded_once_and_the_unit_goes_on(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    first = a_payment(ada, external_id="in_1")
    await stored(uow_factory, first)
    replayed, other, local = a_payment(ada, external_id="in_1"), a_payment(ada, external_id="in_2"), a_payment(ada)

    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.payments.add(replayed)
        await uow.payments.add(other)
        with pytest.raises(Conflict):  # recorded earlier in this same unit
            await uow.payments.add(a_payment(ada, external_id="in_2"))
        await uow.payments.add(local)  # payments without a gateway invoice never clash
        await uow.payments.add(a_payment(ada))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.payments.get_by_external_id("in_1") == first
        assert await uow.payments.get(replayed.id) is None
        assert await uow.payments.get_by_external_id("in_2") == other
        assert await uow.payments.get(local.id) == local
        assert len(await uow.payments.list_for_user(ada.id, 10, None)) == 4


async def test_invoice_numbers_strictly_increase_across_units(uow_factory: UowFactory) -> None:
    drawn: list[int] = []
    for _ in range(3):
        async with uow_factory() as uow:
            drawn += [await uow.payments.next_invoice_number() for _ in range(3)]
            await uow.commit()

    assert drawn == sorted(set(drawn))
    assert all(number >= 1 for number in drawn)


# --- received events ----------------------------------------------------------------------------


async def test_a_received_event_reads_back_and_its_processing_is_stored(uow_factory: UowFactory) -> None:
    event = an_event(
        payload={
            "id": "evt_1",
            "livemode": False,
            "data": {"object": {"lines": [{"amount": 2000, "description": "Parley Plus ✓"}], "discount": None}},
            "ratio": 0.5,
        }
    )
    await stored(uow_factory, event)

    async with uow_factory() as uow:
        locked = await uow.received_events.lock("evt_1")
        assert locked == event
        assert await uow.received_events.lock("evt_unknown") is None
        locked.processed_at = T0 + timedelta(seconds=2, microseconds=1)
        await uow.received_events.update(locked)
        await uow.commit()

    async with uow_factory() as uow:
        processed = await uow.received_events.lock("evt_1")
    assert processed == locked
    assert processed is not None
    assert_aware(processed.received_at, processed.processed_at)


async def test_a_duplicate_event_is_refused_the_first_stays_and_the_unit_goes_on(uow_factory: UowFactory) -> None:
    first = an_event("evt_1")
    await stored(uow_factory, first)
    replay = an_event("evt_1", type="invoice.payment_failed", payload={"replayed": True}, received_at=T0 + timedelta(1))

    async with uow_factory() as uow:
        assert await uow.received_events.add(replay) is False
        assert await uow.received_events.add(an_event("evt_2")) is True
        assert await uow.received_events.add(an_event("evt_2")) is False  # received earlier in this same unit
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.received_events.lock("evt_1") == first
        assert await uow.received_events.lock("evt_2") == an_event("evt_2")


# --- quota notices ------------------------------------------------------------------------------


async def test_a_quota_notice_is_sent_once_per_user_period_and_threshold(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")

    async with uow_factory() as uow:
        assert await uow.quota_notices.add_once(ada.id, PERIOD, 80) is True
        assert await uow.quota_notices.add_once(ada.id, PERIOD, 80) is False
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.quota_notices.add_once(ada.id, PERIOD, 80) is False
        # The same instant written in another time zone is the same period.
        assert await uow.quota_notices.add_once(ada.id, PERIOD.astimezone(PLUS_TWO), 80) is False
        assert await uow.quota_notices.add_once(ada.id, PERIOD, 100) is True
        assert await uow.quota_notices.add_once(ada.id, PERIOD + timedelta(days=31), 80) is True
        assert await uow.quota_notices.add_once(grace.id, PERIOD, 80) is True
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.quota_notices.add_once(ada.id, PERIOD, 100) is False
        assert await uow.quota_notices.add_once(grace.id, PERIOD, 80) is False


# --- the unit of work ---------------------------------------------------------------------------


async def test_a_rolled_back_unit_leaves_nothing(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    subscription = a_subscription(ada, external_id="sub_1", current_period_end=T0)
    payment = a_payment(ada, external_id="in_1")

    async def write_everything(uow: BillingStoreUnitOfWork) -> None:
        await uow.accounts.set_plan(ada.id, "plus")
        await uow.subscriptions.add(subscription)
        await uow.payments.add(payment)
        assert await uow.received_events.add(an_event("evt_1"))
        assert await uow.quota_notices.add_once(ada.id, PERIOD, 80)

    async with uow_factory() as uow:
        await write_everything(uow)
        await uow.rollback()
    with pytest.raises(RuntimeError):
        async with uow_factory() as uow:
            await write_everything(uow)
            raise RuntimeError("the gateway failed")

    async with uow_factory() as uow:
        account = await uow.accounts.get(ada.id)
        assert account is not None and account.plan == "free"
        assert await uow.subscriptions.get_for_user(ada.id) is None
        assert await uow.subscriptions.get_by_external_id("sub_1") is None
        assert await uow.subscriptions.due_for_renewal(T0 + timedelta(days=1), 10) == []
        assert await uow.payments.get(payment.id) is None
        assert await uow.payments.get_by_external_id("in_1") is None
        assert await uow.payments.list_for_user(ada.id, 10, None) == []
        assert await uow.received_events.lock("evt_1") is None
        assert await uow.received_events.add(an_event("evt_1")) is True
        assert await uow.quota_notices.add_once(ada.id, PERIOD, 80) is True


# --- PostgreSQL: concurrent units ---------------------------------------------------------------


@pytest.mark.postgres
async def test_concurrent_schedulers_never_claim_the_same_subscription(
    postgres_sessions: async_sessionmaker[AsyncSession],
) -> None:
    def factory() -> SqlUnitOfWork:
        return SqlUnitOfWork(postgres_sessions)

    ada = await stored_user(factory)
    due = [a_subscription(ada, current_period_end=T0 + timedelta(minutes=n)) for n in range(5)]
    await stored(factory, *due)
    now = T0 + timedelta(days=1)

    async with factory() as first, factory() as second:
        claimed_first = await first.subscriptions.due_for_renewal(now, 2)
        # Without SKIP LOCKED the second claim would wait for the first transaction: bound it.
        claimed_second = await asyncio.wait_for(second.subscriptions.due_for_renewal(now, 10), timeout=5)

    assert claimed_first == due[:2]
    assert claimed_second == due[2:]


@pytest.mark.postgres
async def test_concurrent_units_never_draw_the_same_invoice_number(
    postgres_sessions: async_sessionmaker[AsyncSession],
) -> None:
    async def draw(uow: SqlUnitOfWork) -> list[int]:
        return [await uow.payments.next_invoice_number() for _ in range(5)]

    async with AsyncExitStack() as stack:
        # Eight transactions open at once, none committing: a counter kept in a row would repeat numbers
        # or make each unit wait for the others (bounded, so that fails instead of hanging).
        units = [await stack.enter_async_context(SqlUnitOfWork(postgres_sessions)) for _ in range(8)]
        per_unit = await asyncio.wait_for(asyncio.gather(*(draw(uow) for uow in units)), timeout=5)

    async with SqlUnitOfWork(postgres_sessions) as uow:
        after_rollbacks = await uow.payments.next_invoice_number()

    drawn = [number for numbers in per_unit for number in numbers]
    assert len(set(drawn)) == len(drawn) == 40
    assert all(numbers == sorted(numbers) for numbers in per_unit)
    assert after_rollbacks > max(drawn)  # the rolled-back units' numbers are never handed out again


async def test_an_account_is_found_by_its_address_whatever_the_case(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory, "Ada@Example.com")
    gone = await stored_user(uow_factory, "gone@example.com")
    async with uow_factory() as uow:
        erased = await uow.users.get(gone.id)
        assert erased is not None
        erased.erase(T0)
        await uow.users.update(erased)
        await uow.commit()

    async with uow_factory() as uow:
        found = await uow.accounts.get_by_email("ada@EXAMPLE.com")
        assert await uow.accounts.get_by_email("gone@example.com") is None
        assert await uow.accounts.get_by_email(erased.email) is None  # a deleted account has no address
        assert await uow.accounts.get_by_email("nobody@example.com") is None
    assert found is not None and found.user_id == ada.id


# --- grants -------------------------------------------------------------------------------------


def a_grant(user: User, period_start: datetime = PERIOD, **changes: Any) -> Grant:
    fields: dict[str, Any] = {
        "id": new_id(),
        "user_id": user.id,
        "tokens": 5_000,
        "reason": "Sorry about Tuesday's outage",
        "granted_by": uuid4(),
        "period_start": period_start,
        "period_end": period_start + timedelta(days=31),
        "created_at": T0,
        **changes,
    }
    return Grant(**fields)


async def test_a_grant_reads_back_with_every_field_and_by_its_period(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    grace = await stored_user(uow_factory, "grace@example.com")
    first = a_grant(ada)
    second = a_grant(ada, granted_by=None, tokens=100_000_000, created_at=T0 + timedelta(seconds=1))
    later = a_grant(ada, PERIOD + timedelta(days=31))
    async with uow_factory() as uow:
        for grant in (second, later, first, a_grant(grace)):
            await uow.grants.add(grant)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.grants.get(first.id) == first
        assert await uow.grants.get(new_id()) is None
        assert await uow.grants.for_period(ada.id, PERIOD) == [first, second]
        assert await uow.grants.for_period(ada.id, later.period_start) == [later]
        assert await uow.grants.for_period(ada.id, PERIOD - timedelta(days=28)) == []
    stored = await _grant_back(uow_factory, first.id)
    assert_aware(stored.created_at, stored.period_start, stored.period_end)


async def test_a_grant_rolled_back_is_not_stored(uow_factory: UowFactory) -> None:
    ada = await stored_user(uow_factory)
    async with uow_factory() as uow:
        await uow.grants.add(a_grant(ada))

    async with uow_factory() as uow:
        assert await uow.grants.for_period(ada.id, PERIOD) == []


async def _grant_back(uow_factory: UowFactory, grant_id: UUID) -> Grant:
    async with uow_factory() as uow:
        grant = await uow.grants.get(grant_id)
    assert grant is not None
    return grant
