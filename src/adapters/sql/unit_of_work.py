"""One database transaction per `async with`, with every context's repositories bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sql.announcements import SqlAnnouncementRepository, SqlDeliveryRepository, SqlUnsubscribeRepository
from adapters.sql.audit import SqlAuditLog
from adapters.sql.billing import (
    SqlAccountDirectory,
    SqlGrantRepository,
    SqlPaymentRepository,
    SqlQuotaNoticeRepository,
    SqlReceivedEventRepository,
    SqlSubscriptionRepository,
)
from adapters.sql.conversation import SqlConversationRepository, SqlMessageRepository, SqlUsageRepository
from adapters.sql.exports import SqlExportLog
from adapters.sql.facts import SqlFactLog
from adapters.sql.identity import (
    SqlApiKeyRepository,
    SqlOneTimeTokenRepository,
    SqlSessionRepository,
    SqlUserRepository,
)
from adapters.sql.outbox import SqlOutbox
from adapters.sql.transaction import SqlTransaction
from application.analytics.ports import ExportLog, FactStore
from application.billing.ports import (
    AccountDirectory,
    GrantRepository,
    QuotaNoticeRepository,
    ReceivedEventRepository,
)
from application.identity.ports import AnnouncementRepository, DeliveryRepository, UnsubscribeRepository
from application.shared.audit import AuditLog
from application.shared.ports import Outbox
from domain.billing.ports import PaymentRepository, SubscriptionRepository
from domain.conversation.ports import ConversationRepository, MessageRepository, UsageRepository
from domain.identity.ports import ApiKeyRepository, OneTimeTokenRepository, SessionRepository, UserRepository


class SqlUnitOfWork:
    """`async with uow:` is one transaction on one pooled connection, taken at the first statement (so an
    unused unit costs no connection); `commit()` ends it, leaving without committing rolls it back, and
    the connection goes back to the pool either way. A unique value taken, by this unit or a concurrent
    one, surfaces as Conflict from the statement that hit it or from `commit()`.

    Made for every unit of work the application runs, so it is cheap: a transaction object and sixteen
    repositories that each hold a reference to it (about 1.5 µs in all). The chat path's own storage and the
    per-request principal lookup do not go through it (chat_store.py, principals.py)."""

    # Typed as the ports, so the class satisfies IdentityUnitOfWork, ConversationUnitOfWork and
    # BillingUnitOfWork (protocol attributes are invariant).
    users: UserRepository
    sessions: SessionRepository
    api_keys: ApiKeyRepository
    tokens: OneTimeTokenRepository
    outbox: Outbox
    facts: FactStore
    exports: ExportLog
    conversations: ConversationRepository
    messages: MessageRepository
    usage: UsageRepository
    accounts: AccountDirectory
    subscriptions: SubscriptionRepository
    payments: PaymentRepository
    received_events: ReceivedEventRepository
    quota_notices: QuotaNoticeRepository
    grants: GrantRepository

    def __init__(self, database: AsyncEngine | async_sessionmaker[AsyncSession]) -> None:
        """`database` is the engine, or a session factory bound to one (what bootstrap and the test
        fixtures hold): only its engine is used."""
        engine = database if isinstance(database, AsyncEngine) else database.kw["bind"]
        tx = self._tx = SqlTransaction(engine)
        self.users = SqlUserRepository(tx)
        self.sessions = SqlSessionRepository(tx)
        self.api_keys = SqlApiKeyRepository(tx)
        self.tokens = SqlOneTimeTokenRepository(tx)
        self.outbox = SqlOutbox(tx)
        self.facts = SqlFactLog(tx)
        self.exports = SqlExportLog(tx)
        self.conversations = SqlConversationRepository(tx)
        self.messages = SqlMessageRepository(tx)
        self.usage = SqlUsageRepository(tx)
        self.accounts = SqlAccountDirectory(tx)
        self.subscriptions = SqlSubscriptionRepository(tx)
        self.payments = SqlPaymentRepository(tx)
        self.received_events = SqlReceivedEventRepository(tx)
        self.quota_notices = SqlQuotaNoticeRepository(tx)
        self.audit: AuditLog = SqlAuditLog(tx)
        self.grants = SqlGrantRepository(tx)
        self.announcements: AnnouncementRepository = SqlAnnouncementRepository(tx)
        self.deliveries: DeliveryRepository = SqlDeliveryRepository(tx)
        self.unsubscribes: UnsubscribeRepository = SqlUnsubscribeRepository(tx)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._tx.close()  # rolls back whatever was not committed and returns the connection

    async def commit(self) -> None:
        await self._tx.commit()

    async def rollback(self) -> None:
        await self._tx.rollback()
