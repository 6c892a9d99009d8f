"""Billing's use cases wired on the in-memory adapters and the local gateway, one fresh kit per test.

Emails and webhook events go the way they go in production: a use case writes an outbox message and
`BillingKit.run_jobs()` plays relay and worker, so a test sees an email only once the jobs ran."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from adapters.memory.clock import FrozenClock
from adapters.memory.database import InMemoryDatabase
from adapters.memory.mailer import InMemoryMailer
from adapters.memory.publisher import InMemoryPublisher
from adapters.memory.quota_ledger import InMemoryQuotaLedger
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from adapters.payments.local import LocalPaymentGateway
from application.billing.cancel import CancelSubscription
from application.billing.plans import DEFAULT_PLANS, StaticPlanCatalogue, with_overage
from application.billing.ports import Account, InvoiceLinks
from application.billing.queries import GetBillingUsage, GetSubscription, ListPayments, ListPlans, ShowInvoice
from application.billing.renewals import RunBillingCycle
from application.billing.subscribe import Subscribe
from application.billing.webhooks import ReceiveGatewayEvent
from application.conversation.quota import QuotaGate
from application.shared.allowance import Allowance
from application.shared.jobs import RelayOutbox, RunJob
from application.shared.ports import OutboxMessage
from domain.billing.model import Payment, Subscription
from domain.conversation.model import Usage
from domain.conversation.ports import UsageRecord
from domain.identity.model import Role, User
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.factories.billing import START, AccountFactory
from tests.factories.conversation import UsageRecordFactory

PUBLIC_URL = "https://parley.example.test"
OVERAGE_CENTS = 50
"""Plus bills overage in these tests: 50 cents per started 1,000 tokens beyond its quota."""


class TemplateNameRenderer:
    """An email rendered as its template name (the subject) and its fields (the body)."""

    def render(self, template: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
        body = "\n".join(f"{key}={value}" for key, value in sorted(context.items()))
        return template, body, f"<pre>{body}</pre>"


@dataclass(kw_only=True)
class BillingKit:
    db: InMemoryDatabase
    clock: FrozenClock
    gateway: LocalPaymentGateway
    plans: StaticPlanCatalogue
    mailer: InMemoryMailer
    publisher: InMemoryPublisher
    quota: QuotaGate
    invoice_links: InvoiceLinks
    subscribe: Subscribe
    cancel: CancelSubscription
    run_cycle: RunBillingCycle
    receive_event: ReceiveGatewayEvent
    get_subscription: GetSubscription
    get_usage: GetBillingUsage
    list_plans: ListPlans
    list_payments: ListPayments
    show_invoice: ShowInvoice
    relay_outbox: RelayOutbox
    run_job: RunJob
    jobs_seen: int = 0
    outbox_topics: list[str] = field(default_factory=list)

    def uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.db)

    async def run_jobs(self) -> int:
        """Relay the outbox and run each newly published job once, like the worker; return how many ran."""
        ran = 0
        while await self.relay_outbox():
            for message_id, topic in self.publisher.published[self.jobs_seen :]:
                self.outbox_topics.append(topic)
                ran += await self.run_job(message_id)
            self.jobs_seen = len(self.publisher.published)
        return ran

    async def account(self, **fields: Any) -> Account:
        """A user (identity's row, seen by billing as an Account), free unless told otherwise."""
        account = AccountFactory.build(**fields)
        user = User(
            id=account.user_id,
            email=account.email,
            name=account.name,
            password_hash="-",
            role=Role.USER,
            plan=account.plan,
            created_at=account.created_at,
            email_verified_at=account.created_at,
        )
        async with self.uow() as uow:
            await uow.users.add(user)
            await uow.commit()
        return account

    async def stored_account(self, user_id: UUID) -> Account:
        async with self.uow() as uow:
            account = await uow.accounts.get(user_id)
        assert account is not None
        return account

    async def stored_subscriber(self, email: str) -> UUID:
        async with self.uow() as uow:
            user = await uow.users.get_by_email(email)
        assert user is not None
        return user.id

    async def subscription(self, user_id: UUID) -> Subscription:
        async with self.uow() as uow:
            subscription = await uow.subscriptions.get_for_user(user_id)
        assert subscription is not None
        return subscription

    async def store(self, subscription: Subscription) -> Subscription:
        """A subscription Parley recorded before (the local gateway recalls it from this record)."""
        async with self.uow() as uow:
            await uow.subscriptions.add(subscription)
            await uow.commit()
        return subscription

    async def payments(self, user_id: UUID) -> list[Payment]:
        return list((await self.list_payments(user_id, limit=100)).items)

    async def spend(self, user_id: UUID, tokens: int, period: tuple[datetime, datetime]) -> None:
        """Tokens a reply used in `period`, settled on the quota ledger while their usage is recorded, as
        conversation settles them."""
        allowance = Allowance("any", 0, period[0], period[1], overage=10**9)
        reservation = await self.quota.reserve(user_id, allowance, tokens)
        recording = self._record_usage(
            UsageRecordFactory.build(user_id=user_id, usage=Usage(tokens, 0), period_start=period[0])
        )
        await self.quota.settle(reservation, tokens, allowance, recording=recording)

    async def _record_usage(self, record: UsageRecord) -> None:
        async with self.uow() as uow:
            await uow.usage.add(record)
            await uow.commit()

    async def outbox(self, message: OutboxMessage) -> None:
        """A message another context wrote to the outbox (conversation's quota and overage topics)."""
        async with self.uow() as uow:
            await uow.outbox.add(message)
            await uow.commit()

    def emails(self, to: str | None = None) -> list[str]:
        """Template names of the emails sent (to `to`, if given), oldest first."""
        return [m.subject for m in self.mailer.sent if to is None or m.to == to]


def build_billing_kit(clock: FrozenClock | None = None) -> BillingKit:
    """Billing's use cases as the composition root wires them (bootstrap), on in-memory adapters and the local
    gateway; plus bills overage."""
    db = InMemoryDatabase()

    def uow_factory() -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(db)

    clock = clock or FrozenClock(START)
    gateway = LocalPaymentGateway(clock)
    mailer = InMemoryMailer()
    publisher = InMemoryPublisher()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        var_dir=Path(tempfile.gettempdir()) / "parley-unit-tests",
        secret_key="unit-tests-only-secret-key-0123456789abcdef",
        public_url=PUBLIC_URL,
        overage_cents_per_1k_tokens={"plus": OVERAGE_CENTS},
        allowance_cache_seconds=0,
    )
    container = bootstrap(
        settings,
        uow_factory=uow_factory,
        clock=clock,
        gateway=gateway,
        mailer=mailer,
        publisher=publisher,
        renderer=TemplateNameRenderer(),
        ledger=InMemoryQuotaLedger(),
    )
    billing = container.billing
    return BillingKit(
        db=db,
        clock=clock,
        gateway=gateway,
        plans=StaticPlanCatalogue(with_overage(DEFAULT_PLANS, {"plus": OVERAGE_CENTS})),
        mailer=mailer,
        publisher=publisher,
        quota=QuotaGate(container.ledger, uow_factory),
        invoice_links=container.invoice_links,
        subscribe=billing.subscribe,
        cancel=billing.cancel,
        run_cycle=billing.run_cycle,
        receive_event=billing.receive_event,
        get_subscription=billing.get_subscription,
        get_usage=billing.get_usage,
        list_plans=billing.list_plans,
        list_payments=billing.list_payments,
        show_invoice=billing.show_invoice,
        relay_outbox=container.relay_outbox,
        run_job=container.run_job,
    )


@pytest.fixture
def kit() -> BillingKit:
    return build_billing_kit()
