"""The allowance kept between requests: a plan change applies at once, a new period at its start, anything
else billing changes within the cache's lifetime; the database is read once per user and lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from adapters.memory.database import InMemoryDatabase
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application.billing.allowance import BillingAllowance
from application.billing.plans import StaticPlanCatalogue
from application.conversation.allowance_cache import CachedAllowance
from domain.billing.model import Subscription, SubscriptionStatus
from domain.identity.model import Role, User
from domain.shared.ids import new_id

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
TTL = 30


class Setup:
    def __init__(self) -> None:
        self.db = InMemoryDatabase()
        self.reads = 0
        self.billing = BillingAllowance(self._uow, StaticPlanCatalogue())
        self.cached = CachedAllowance(self.billing, ttl_seconds=TTL)

    def _uow(self) -> InMemoryUnitOfWork:
        self.reads += 1
        return InMemoryUnitOfWork(self.db)

    async def user(self, plan: str = "free") -> UUID:
        user = User(
            id=new_id(),
            email=f"{new_id().hex}@example.com",
            name=None,
            password_hash="x",
            role=Role.USER,
            plan=plan,
            created_at=T0,
        )
        async with InMemoryUnitOfWork(self.db) as uow:
            await uow.users.add(user)
            await uow.commit()
        return user.id

    async def subscribe(self, user_id: UUID, plan: str, start: datetime, end: datetime) -> Subscription:
        subscription = Subscription(
            id=new_id(),
            user_id=user_id,
            plan=plan,
            status=SubscriptionStatus.ACTIVE,
            gateway="local",
            current_period_start=start,
            current_period_end=end,
            created_at=start,
            updated_at=start,
        )
        async with InMemoryUnitOfWork(self.db) as uow:
            await uow.subscriptions.add(subscription)
            await uow.commit()
        return subscription


async def test_repeated_requests_read_the_allowance_once_per_lifetime() -> None:
    setup = Setup()
    user_id = await setup.user()
    first = await setup.cached.current(user_id, "free", T0)
    for seconds in range(TTL):
        assert await setup.cached.current(user_id, "free", T0 + timedelta(seconds=seconds)) == first
    assert setup.reads == 1
    await setup.cached.current(user_id, "free", T0 + timedelta(seconds=TTL))
    assert setup.reads == 2


async def test_a_plan_change_applies_to_the_next_request() -> None:
    setup = Setup()
    user_id = await setup.user()
    free = await setup.cached.current(user_id, "free", T0)
    await setup.subscribe(user_id, "pro", T0, T0 + timedelta(days=30))
    pro = await setup.cached.current(user_id, "pro", T0 + timedelta(seconds=1))
    assert (free.plan, pro.plan) == ("free", "pro")
    assert pro.limit > free.limit
    assert pro.period_start == T0


async def test_an_entry_never_outlives_its_period() -> None:
    setup = Setup()
    user_id = await setup.user("plus")
    end = T0 + timedelta(seconds=10)
    subscription = await setup.subscribe(user_id, "plus", T0 - timedelta(days=30), end)
    before = await setup.cached.current(user_id, "plus", end - timedelta(seconds=1))
    subscription.current_period_start, subscription.current_period_end = end, end + timedelta(days=30)
    async with InMemoryUnitOfWork(setup.db) as uow:
        await uow.subscriptions.update(subscription)
        await uow.commit()
    after = await setup.cached.current(user_id, "plus", end)
    assert (before.period_end, after.period_start) == (end, end)


async def test_a_lifetime_of_zero_reads_every_time() -> None:
    setup = Setup()
    setup.cached = CachedAllowance(setup.billing, ttl_seconds=0)
    user_id = await setup.user()
    for _ in range(3):
        await setup.cached.current(user_id, "free", T0)
    assert setup.reads == 3


async def test_the_cache_holds_at_most_its_bound() -> None:
    setup = Setup()
    setup.cached = CachedAllowance(setup.billing, ttl_seconds=TTL, max_entries=2)
    users = [await setup.user() for _ in range(3)]
    for user_id in users:
        await setup.cached.current(user_id, "free", T0)
    await setup.cached.current(users[0], "free", T0)  # the oldest entry made room for the third user
    assert setup.reads == 4
    await setup.cached.current(users[2], "free", T0)
    assert setup.reads == 4
