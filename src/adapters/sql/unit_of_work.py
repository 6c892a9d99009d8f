"""One database transaction per `async with`, with every context's repositories bound to it."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.sql.billing import (
    SqlAccountDirectory,
    SqlPaymentRepository,
    SqlQuotaNoticeRepository,
    SqlReceivedEventRepository,
    SqlSubscriptionRepository,
)
from adapters.sql.conversation import SqlConversationRepository, SqlMessageRepository, SqlUsageRepository
from adapters.sql.engine import is_unique_violation
from adapters.sql.identity import (
    SqlApiKeyRepository,
    SqlOneTimeTokenRepository,
    SqlSessionRepository,
    SqlUserRepository,
)
from adapters.sql.outbox import SqlOutbox
from application.billing.ports import AccountDirectory, QuotaNoticeRepository, ReceivedEventRepository
from application.shared.ports import Outbox
from domain.billing.ports import PaymentRepository, SubscriptionRepository
from domain.conversation.ports import ConversationRepository, MessageRepository, UsageRepository
from domain.identity.ports import ApiKeyRepository, OneTimeTokenRepository, SessionRepository, UserRepository
from domain.shared.errors import Conflict


class SqlUnitOfWork:
    """`async with uow:` opens a session whose transaction begins on first use (so an unused unit
    costs no connection); `commit()` ends it, leaving without committing rolls it back, and the
    session is closed either way. A unique value taken concurrently surfaces as Conflict."""

    # Typed as the ports, so the class satisfies IdentityUnitOfWork, ConversationUnitOfWork and
    # BillingUnitOfWork (protocol attributes are invariant).
    users: UserRepository
    sessions: SessionRepository
    api_keys: ApiKeyRepository
    tokens: OneTimeTokenRepository
    outbox: Outbox
    conversations: ConversationRepository
    messages: MessageRepository
    usage: UsageRepository
    accounts: AccountDirectory
    subscriptions: SubscriptionRepository
    payments: PaymentRepository
    received_events: ReceivedEventRepository
    quota_notices: QuotaNoticeRepository

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    async def __aenter__(self) -> Self:
        session = self._session = self._session_factory()
        self.users = SqlUserRepository(session)
        self.sessions = SqlSessionRepository(session)
        self.api_keys = SqlApiKeyRepository(session)
        self.tokens = SqlOneTimeTokenRepository(session)
        self.outbox = SqlOutbox(session)
        self.conversations = SqlConversationRepository(session)
        self.messages = SqlMessageRepository(session)
        self.usage = SqlUsageRepository(session)
        self.accounts = SqlAccountDirectory(session)
        self.subscriptions = SqlSubscriptionRepository(session)
        self.payments = SqlPaymentRepository(session)
        self.received_events = SqlReceivedEventRepository(session)
        self.quota_notices = SqlQuotaNoticeRepository(session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._session.close()  # rolls back whatever was not committed and returns the connection

    async def commit(self) -> None:
        try:
            await self._session.commit()
        except IntegrityError as exc:
            if is_unique_violation(exc):
                raise Conflict() from exc
            raise

    async def rollback(self) -> None:
        await self._session.rollback()
