from __future__ import annotations

from types import TracebackType
from typing import Self

from adapters.memory.announcements import (
    InMemoryAnnouncementRepository,
    InMemoryDeliveryRepository,
    InMemoryUnsubscribeRepository,
)
from adapters.memory.audit import InMemoryAuditLog
from adapters.memory.billing import (
    InMemoryAccountDirectory,
    InMemoryGrantRepository,
    InMemoryPaymentRepository,
    InMemoryQuotaNoticeRepository,
    InMemoryReceivedEventRepository,
    InMemorySubscriptionRepository,
)
from adapters.memory.conversation import (
    InMemoryConversationRepository,
    InMemoryMessageRepository,
    InMemoryUsageRepository,
)
from adapters.memory.database import InMemoryDatabase, Transaction
from adapters.memory.exports import InMemoryExportLog
from adapters.memory.facts import InMemoryFactLog
from adapters.memory.identity import (
    InMemoryApiKeyRepository,
    InMemoryOneTimeTokenRepository,
    InMemorySessionRepository,
    InMemoryUserRepository,
)
from adapters.memory.outbox import InMemoryOutbox
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


class InMemoryUnitOfWork:
    """Every context's repositories over one InMemoryDatabase; writes land only on commit()."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self.database = db
        """The store it works on (the chat store shares it)."""
        self.committed = False

    async def __aenter__(self) -> Self:
        self._tx = Transaction(self._db)
        self.users: UserRepository = InMemoryUserRepository(self._tx)
        self.sessions: SessionRepository = InMemorySessionRepository(self._tx)
        self.api_keys: ApiKeyRepository = InMemoryApiKeyRepository(self._tx)
        self.tokens: OneTimeTokenRepository = InMemoryOneTimeTokenRepository(self._tx)
        self.outbox: Outbox = InMemoryOutbox(self._tx)
        self.facts: FactStore = InMemoryFactLog(self._tx)
        self.exports: ExportLog = InMemoryExportLog(self._tx)
        self.conversations: ConversationRepository = InMemoryConversationRepository(self._tx)
        self.messages: MessageRepository = InMemoryMessageRepository(self._tx)
        self.usage: UsageRepository = InMemoryUsageRepository(self._tx)
        self.accounts: AccountDirectory = InMemoryAccountDirectory(self._tx)
        self.subscriptions: SubscriptionRepository = InMemorySubscriptionRepository(self._tx)
        self.payments: PaymentRepository = InMemoryPaymentRepository(self._tx)
        self.received_events: ReceivedEventRepository = InMemoryReceivedEventRepository(self._tx)
        self.quota_notices: QuotaNoticeRepository = InMemoryQuotaNoticeRepository(self._tx)
        self.audit: AuditLog = InMemoryAuditLog(self._tx)
        self.grants: GrantRepository = InMemoryGrantRepository(self._tx)
        self.announcements: AnnouncementRepository = InMemoryAnnouncementRepository(self._tx)
        self.deliveries: DeliveryRepository = InMemoryDeliveryRepository(self._tx)
        self.unsubscribes: UnsubscribeRepository = InMemoryUnsubscribeRepository(self._tx)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tx.rollback()

    async def commit(self) -> None:
        self._tx.commit()
        self.committed = True

    async def rollback(self) -> None:
        self._tx.rollback()
