"""The chat use case's steps wired on the in-memory adapters, for the unit tests of each step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from adapters.memory.cache import InMemoryCache
from adapters.memory.chat_store import InMemoryChatStore
from adapters.memory.clock import FrozenClock
from adapters.memory.database import InMemoryDatabase, Transaction
from adapters.memory.facts import InMemoryFactLog
from adapters.memory.live_counters import InMemoryLiveCounters
from adapters.memory.llm import ScriptedProvider
from adapters.memory.quota_ledger import InMemoryQuotaLedger
from adapters.memory.telemetry import RecordingTelemetry
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from application.conversation.dto import ReplyEvent
from application.conversation.quota import QuotaGate
from application.conversation.response_cache import ResponseCache
from application.conversation.router import ProviderRouter
from application.conversation.send_chat import SendChat
from application.shared.allowance import Allowance
from application.shared.facts import Fact
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.model import Usage
from entrypoints.background import AsyncioBackgroundTasks
from tests.factories.conversation import PERIOD, UsageRecordFactory

LIMIT = 1_000


@dataclass
class FixedAllowance:
    limit: int = LIMIT
    overage: int = 0

    async def current(self, user_id: UUID, plan: str, now: datetime) -> Allowance:
        return Allowance(plan, self.limit, PERIOD, PERIOD + timedelta(days=31), self.overage)


@dataclass
class Chat:
    provider: ScriptedProvider
    allowance: FixedAllowance = field(default_factory=FixedAllowance)
    cache_ttl: int = 0
    db: InMemoryDatabase = field(default_factory=InMemoryDatabase)
    clock: FrozenClock = field(default_factory=lambda: FrozenClock(PERIOD + timedelta(days=2)))
    ledger: InMemoryQuotaLedger = field(default_factory=InMemoryQuotaLedger)
    background: AsyncioBackgroundTasks = field(default_factory=AsyncioBackgroundTasks)
    prices: tuple[int, int] = (0, 0)
    """The model's price in cents per million input and output tokens."""
    telemetry: RecordingTelemetry = field(default_factory=RecordingTelemetry)
    store_class: type[InMemoryChatStore] = InMemoryChatStore
    """The chat store over `db` (a subclass to hold up or break a step)."""

    def __post_init__(self) -> None:
        self.live = InMemoryLiveCounters(self.clock)
        self.store = self.store_class(self.db)
        self.cache = ResponseCache(InMemoryCache(), self.cache_ttl)
        self.quota = QuotaGate(self.ledger, self.uow)
        self.spec = ModelSpec(
            "m",
            (RouteStep(self.provider.name, "up"),),
            8192,
            frozenset({"free", "pro"}),
            prompt_price_per_mtok_cents=self.prices[0],
            completion_price_per_mtok_cents=self.prices[1],
            default_max_tokens=64,
        )
        self.catalogue = ModelCatalogue([self.spec])
        self.router = ProviderRouter(
            {self.provider.name: self.provider}, clock=self.clock.monotonic, telemetry=self.telemetry
        )
        self.send = SendChat(
            self.store,
            self.quota,
            self.catalogue,
            self.router,
            self.allowance,
            self.cache,
            self.background,
            self.clock,
            self.live,
            self.telemetry,
        )

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.db)

    def facts(self) -> list[Fact]:
        return list(InMemoryFactLog(Transaction(self.db)).all())

    def outbox(self) -> list[object]:
        return [m for m in self.db.table("outbox").values() if m is not None]

    async def spent(self, user_id: UUID, allowance: Allowance, tokens: int) -> None:
        """`tokens` the user spent earlier in the period (one usage record, none for 0): in the durable totals and
        in the ledger's counter."""
        if tokens:
            usage = Usage(tokens, 0)
            await self.store.record_reply(
                None, UsageRecordFactory.build(user_id=user_id, usage=usage, period_start=allowance.period_start)
            )
        await self.ledger.seed(user_id, allowance, tokens)


async def every_event(events: AsyncIterator[ReplyEvent]) -> list[ReplyEvent]:
    return [event async for event in events]
