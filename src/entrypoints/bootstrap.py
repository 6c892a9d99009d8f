"""THE composition root: `bootstrap(settings, **overrides)` picks an adapter for every port and wires the
use cases. An override replaces any port by name (tests pass in-memory adapters this way)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import dramatiq
from prometheus_client import CollectorRegistry

from adapters.invoices.jinja import JinjaInvoicePages
from adapters.memory.cache import InMemoryCache
from adapters.memory.live_counters import InMemoryLiveCounters
from adapters.memory.quota_ledger import InMemoryQuotaLedger
from adapters.memory.rate_limiter import InMemoryRateLimiter
from adapters.memory.stream_log import InMemoryStreamLog
from adapters.security.signed_links import SignedLinks
from adapters.telemetry.prometheus import PrometheusTelemetry
from application.analytics.export import ExportFacts, PurgeExportedFacts, RunAnalyticsExport
from application.analytics.ports import FactArchive
from application.analytics.reports import AnalyticsReports
from application.billing import topics as billing_topics
from application.billing.allowance import BillingAllowance
from application.billing.cancel import CancelSubscription
from application.billing.export import BillingDataExport
from application.billing.grants import CountGrant, GrantTokens
from application.billing.notices import SendBillingEmail, SendQuotaWarning
from application.billing.overage import ReportOverage
from application.billing.plans import StaticPlanCatalogue
from application.billing.ports import InvoiceLinks
from application.billing.queries import GetBillingUsage, GetSubscription, ListPayments, ListPlans, ShowInvoice
from application.billing.renewals import RunBillingCycle
from application.billing.subscribe import Subscribe
from application.billing.webhooks import ProcessGatewayEvent, ReceiveGatewayEvent
from application.conversation.allowance_cache import CachedAllowance
from application.conversation.chat_store import ChatStore
from application.conversation.count_tokens import CountTokens
from application.conversation.embed import Embed
from application.conversation.erase import EraseConversations
from application.conversation.export import ConversationDataExport
from application.conversation.ports import QuotaLedger, StreamLog
from application.conversation.queries import (
    DeleteConversation,
    GetConversation,
    GetUsage,
    ListConversations,
    ListModels,
)
from application.conversation.quota import QuotaGate
from application.conversation.response_cache import ResponseCache
from application.conversation.router import ProviderRouter
from application.conversation.send_chat import SendChat
from application.identity import topics as identity_topics
from application.identity.admin_audit import ListAuditEntries
from application.identity.admin_users import ChangeUser, GetUser, ListUsers
from application.identity.announcement_delivery import SendAnnouncementBatch
from application.identity.announcements import CreateAnnouncement, GetAnnouncement, ListAnnouncements
from application.identity.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from application.identity.authenticate import Authenticate, PrincipalLookup
from application.identity.change_password import ChangePassword
from application.identity.create_admin import CreateAdmin
from application.identity.delete_account import DeleteAccount
from application.identity.emails import IDENTITY_EMAILS, SendIdentityEmail
from application.identity.export_account import ExportAccount
from application.identity.ports import IdentityUnitOfWork
from application.identity.refresh_session import RefreshSession
from application.identity.request_email import ForgotPassword, ResendVerification
from application.identity.reset_password import ResetPassword
from application.identity.sign_in import SignIn
from application.identity.sign_out import SignOut
from application.identity.sign_up import SignUp
from application.identity.unsubscribe import Unsubscribe
from application.identity.update_profile import UpdateProfile
from application.identity.verify_email import VerifyEmail
from application.shared import topics as shared_topics
from application.shared.allowance import AllowanceProvider
from application.shared.background import BackgroundTasks
from application.shared.jobs import JobHandler, OutboxDepth, RelayOutbox, RunJob, fan_out
from application.shared.live import LiveCounters
from application.shared.locks import RunLock
from application.shared.ports import Cache, EmailRenderer, Mailer, MessagePublisher, RateLimiter
from application.shared.revocation import AccountRevocations
from application.shared.telemetry import Telemetry
from domain.billing.ports import PaymentGateway
from domain.conversation.catalogue import ModelCatalogue
from domain.conversation.ports import LlmProvider
from domain.identity.ports import PasswordDenylist, PasswordHasher, TokenIssuer
from domain.shared.clock import Clock, SystemClock
from entrypoints.background import AsyncioBackgroundTasks
from entrypoints.catalogue import build_catalogue, build_plans, build_providers
from entrypoints.observability.tracing import traced_engine, traced_providers
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from adapters.analytics.schema import FactViews


@dataclass
class IdentityUseCases:
    sign_up: SignUp
    verify_email: VerifyEmail
    resend_verification: ResendVerification
    sign_in: SignIn
    refresh: RefreshSession
    sign_out: SignOut
    forgot_password: ForgotPassword
    reset_password: ResetPassword
    authenticate: Authenticate
    create_api_key: CreateApiKey
    list_api_keys: ListApiKeys
    revoke_api_key: RevokeApiKey
    create_admin: CreateAdmin
    update_profile: UpdateProfile
    change_password: ChangePassword
    export_account: ExportAccount
    delete_account: DeleteAccount
    list_users: ListUsers
    get_user: GetUser
    change_user: ChangeUser
    list_audit: ListAuditEntries
    create_announcement: CreateAnnouncement
    list_announcements: ListAnnouncements
    get_announcement: GetAnnouncement
    unsubscribe: Unsubscribe
    """The link in every announcement (the web page GET /unsubscribe calls it too)."""


@dataclass
class ConversationUseCases:
    send_chat: SendChat
    list_conversations: ListConversations
    get_conversation: GetConversation
    delete_conversation: DeleteConversation
    get_usage: GetUsage
    list_models: ListModels
    count_tokens: CountTokens
    embed: Embed


@dataclass
class BillingUseCases:
    list_plans: ListPlans
    subscribe: Subscribe
    cancel: CancelSubscription
    get_subscription: GetSubscription
    get_usage: GetBillingUsage
    list_payments: ListPayments
    show_invoice: ShowInvoice
    receive_event: ReceiveGatewayEvent
    run_cycle: RunBillingCycle
    grant_tokens: GrantTokens


@dataclass
class AnalyticsUseCases:
    export: ExportFacts
    """`parley analytics export`: the days asked for (or the default days), under the export lock."""
    run_export: RunAnalyticsExport
    """The scheduled step: the default days, then the retention, under the export lock."""
    purge: PurgeExportedFacts


@dataclass
class Container:
    settings: Settings
    clock: Clock
    uow_factory: Callable[[], IdentityUnitOfWork]
    cache: Cache
    rate_limiter: RateLimiter
    mailer: Mailer
    renderer: EmailRenderer
    publisher: MessagePublisher
    broker: dramatiq.Broker
    hasher: PasswordHasher
    denylist: PasswordDenylist
    issuer: TokenIssuer
    identity: IdentityUseCases
    conversation: ConversationUseCases
    billing: BillingUseCases
    analytics_reports: AnalyticsReports
    """The answers of the /api/analytics routes (cached briefly), over `fact_views`."""
    gateway: PaymentGateway
    invoice_links: InvoiceLinks
    catalogue: ModelCatalogue
    router: ProviderRouter
    ledger: QuotaLedger
    stream_log: StreamLog
    relay_outbox: RelayOutbox
    run_job: RunJob
    database_ping: Callable[[], Awaitable[bool]]
    database_pool: Callable[[], tuple[int, int]] | None
    """(connections in use, connections this process may open), for /metrics; None without a SQL engine."""
    background: BackgroundTasks
    """Work that outlives its request (the accounting of a cut reply): graceful shutdown drains it."""
    live: LiveCounters
    telemetry: Telemetry
    metrics_registry: CollectorRegistry
    outbox_depth: OutboxDepth
    fact_views: FactViews
    """What the analytics queries run on: Parquet plus the database's tail (the database alone in memory)."""
    fact_archive: FactArchive
    run_lock: RunLock
    analytics: AnalyticsUseCases
    overrides: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()


@dataclass
class Database:
    uow_factory: Any
    chat_store: ChatStore
    principals: PrincipalLookup | None
    """None: authentication reads through a unit of work."""
    ping: Callable[[], Awaitable[bool]]
    closers: list[Callable[[], Awaitable[None]]]
    engine: Any = None
    """The SQL engine (None for units of work passed in as an override)."""


def _database(settings: Settings, overrides: dict[str, Any]) -> Database:
    if "uow_factory" in overrides:
        ping: Callable[[], Awaitable[bool]] = overrides.get("database_ping") or _always_ok
        uow_factory = overrides["uow_factory"]
        chat_store = overrides.get("chat_store") or _memory_chat_store(uow_factory)
        return Database(uow_factory, chat_store, None, ping, [])
    from adapters.sql.chat_store import SqlChatStore
    from adapters.sql.direct import KeptConnections
    from adapters.sql.engine import create_engine, create_session_factory
    from adapters.sql.engine import ping as sql_ping
    from adapters.sql.principals import SqlPrincipalLookup
    from adapters.sql.unit_of_work import SqlUnitOfWork

    engine = traced_engine(
        create_engine(settings.resolved_database_url, settings.database_pool_size, settings.database_max_overflow)
    )
    session_factory = create_session_factory(engine)
    kept = KeptConnections(engine)  # for the chat store's and the principal lookup's single statements

    async def ping_db() -> bool:
        return await sql_ping(engine)

    chat_store = overrides.get("chat_store") or SqlChatStore(engine, kept)
    principals = SqlPrincipalLookup(kept)
    # Closers run last first: the kept connections are closed before the engine is disposed of.
    return Database(
        lambda: SqlUnitOfWork(session_factory),
        chat_store,
        principals,
        ping_db,
        [engine.dispose, kept.aclose],
        engine,
    )


def _pool_status(engine: Any, max_overflow: int) -> Callable[[], tuple[int, int]] | None:
    pool = getattr(engine, "pool", None)
    checked_out, size = getattr(pool, "checkedout", None), getattr(pool, "size", None)
    if not callable(checked_out) or not callable(size):
        return None
    return lambda: (int(checked_out()), int(size()) + max_overflow)


def _memory_chat_store(uow_factory: Callable[[], Any]) -> ChatStore:
    """The chat store over the same in-memory database as the overriding units of work (or a database of its
    own, for a unit of work that is not the in-memory one)."""
    from adapters.memory.chat_store import InMemoryChatStore
    from adapters.memory.database import InMemoryDatabase
    from adapters.memory.unit_of_work import InMemoryUnitOfWork

    unit = uow_factory()
    return InMemoryChatStore(unit.database if isinstance(unit, InMemoryUnitOfWork) else InMemoryDatabase())


async def _always_ok() -> bool:
    return True


@dataclass
class SharedState:
    """The ports whose state must be shared by every process: in-process on the embedded default."""

    cache: Cache
    rate_limiter: RateLimiter
    ledger: QuotaLedger
    stream_log: StreamLog
    live: LiveCounters
    closers: list[Callable[[], Awaitable[None]]]
    redis: Any = None
    """The Redis client (None on the embedded default)."""


def _shared_state(settings: Settings, overrides: dict[str, Any], clock: Clock) -> SharedState:
    if not settings.redis_url:
        return SharedState(
            cache=overrides.get("cache") or InMemoryCache(),
            rate_limiter=overrides.get("rate_limiter") or InMemoryRateLimiter(),
            ledger=overrides.get("ledger") or InMemoryQuotaLedger(hold_ttl_seconds=settings.quota_hold_ttl_seconds),
            stream_log=overrides.get("stream_log") or InMemoryStreamLog(ttl_seconds=settings.stream_log_ttl_seconds),
            live=overrides.get("live") or InMemoryLiveCounters(clock),
            closers=[],
        )
    from adapters.redis.cache import RedisCache
    from adapters.redis.client import create_redis
    from adapters.redis.live_counters import RedisLiveCounters
    from adapters.redis.quota_ledger import RedisQuotaLedger
    from adapters.redis.rate_limiter import RedisRateLimiter
    from adapters.redis.stream_log import RedisStreamLog

    client = create_redis(settings.redis_url)
    prefix = settings.redis_prefix
    live: LiveCounters = overrides.get("live") or RedisLiveCounters(client, clock, prefix=f"{prefix}live:")
    return SharedState(
        cache=overrides.get("cache") or RedisCache(client, prefix=f"{prefix}cache:"),
        rate_limiter=overrides.get("rate_limiter") or RedisRateLimiter(client, prefix=f"{prefix}rl:"),
        ledger=overrides.get("ledger")
        or RedisQuotaLedger(client, prefix=f"{prefix}quota:", hold_ttl_seconds=settings.quota_hold_ttl_seconds),
        stream_log=overrides.get("stream_log")
        or RedisStreamLog(client, prefix=f"{prefix}stream:", ttl_seconds=settings.stream_log_ttl_seconds),
        live=live,
        # Closers run last first: the live counters take this process out of the count before the client closes.
        closers=[client.aclose, live.aclose],
        redis=client,
    )


@dataclass
class Analytics:
    archive: FactArchive
    lock: RunLock
    views: FactViews
    on_exported: Callable[[], None] | None
    closers: list[Callable[[], Awaitable[None]]]


def _analytics(
    settings: Settings, overrides: dict[str, Any], database: Database, shared: SharedState, uow_factory: Any
) -> Analytics:
    """The archive at PARLEY_ANALYTICS_DIR; the export lock of whatever the processes share (PostgreSQL, else
    Redis, else this process); the warehouse (Parquet plus the tail) on SQL, the database alone in memory."""
    from adapters.analytics.archive import DuckDbLimits, ParquetArchive, archive_for
    from adapters.analytics.database_views import DatabaseFactViews
    from adapters.memory.locks import InProcessRunLock

    archive: FactArchive = overrides.get("fact_archive") or archive_for(
        settings.resolved_analytics_dir,
        endpoint_url=settings.analytics_s3_endpoint,
        limits=DuckDbLimits(settings.analytics_memory_limit, settings.var_dir / "tmp" / "duckdb"),
    )
    lock: RunLock | None = overrides.get("run_lock")
    if lock is None and database.engine is not None and database.engine.dialect.name == "postgresql":
        from adapters.sql.locks import PostgresAdvisoryLock

        lock = PostgresAdvisoryLock(database.engine)
    elif lock is None and shared.redis is not None:
        from adapters.redis.locks import RedisRunLock

        lock = RedisRunLock(shared.redis, prefix=f"{settings.redis_prefix}lock:")
    lock = lock or InProcessRunLock()
    views: FactViews | None = overrides.get("fact_views")
    on_exported: Callable[[], None] | None = None
    closers: list[Callable[[], Awaitable[None]]] = []
    if views is None and database.engine is not None and isinstance(archive, ParquetArchive):
        from adapters.analytics.warehouse import ParquetWarehouse

        warehouse = ParquetWarehouse(
            uow_factory,
            archive,
            late=timedelta(seconds=settings.analytics_late_seconds),
            tail_seconds=settings.analytics_tail_cache_seconds,
            threads=settings.analytics_threads,
        )

        async def close_warehouse() -> None:
            warehouse.close()

        views, on_exported, closers = warehouse, warehouse.invalidate, [close_warehouse]
    return Analytics(archive, lock, views or DatabaseFactViews(uow_factory), on_exported, closers)


def _gateway(settings: Settings, clock: Clock) -> PaymentGateway:
    if settings.stripe_secret_key:
        from adapters.payments.stripe import StripePaymentGateway

        prices = {"plus": settings.stripe_price_plus, "pro": settings.stripe_price_pro, **settings.stripe_prices}
        return StripePaymentGateway(
            settings.stripe_secret_key,
            {plan: price for plan, price in prices.items() if price},
            api_base=settings.stripe_api_base,
            overage_price=settings.stripe_price_overage,
        )
    from adapters.payments.local import LocalPaymentGateway

    return LocalPaymentGateway(clock)


def _mailer(settings: Settings) -> Mailer:
    if settings.email_backend == "file":
        from adapters.email.file import FileMailer

        return FileMailer(settings.mail_dir, settings.email_from)
    if settings.email_backend == "ses":
        from adapters.email.ses import SesMailer

        return SesMailer(
            region=settings.ses_region,
            sender=settings.email_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
        )
    from adapters.email.smtp import SmtpMailer

    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.email_from,
        username=settings.smtp_username,
        password=settings.smtp_password,
        starttls=settings.smtp_tls,
        timeout=settings.smtp_timeout_seconds,
    )


def bootstrap(settings: Settings | None = None, **overrides: Any) -> Container:
    """Build the container. Overrides (by port name): clock, uow_factory, chat_store, database_ping, cache,
    rate_limiter, ledger, stream_log, live, telemetry, metrics_registry, mailer, renderer, publisher, broker, hasher,
    denylist, issuer, providers, catalogue, allowance, markdown, fact_views, fact_archive, run_lock."""
    settings = settings or Settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    clock: Clock = overrides.get("clock") or SystemClock()
    database = _database(settings, overrides)
    uow_factory, chat_store, database_ping, closers = (
        database.uow_factory,
        database.chat_store,
        database.ping,
        database.closers,
    )
    shared = _shared_state(settings, overrides, clock)
    closers += shared.closers
    registry: CollectorRegistry = overrides.get("metrics_registry") or CollectorRegistry()
    telemetry: Telemetry = overrides.get("telemetry") or PrometheusTelemetry(registry)

    from adapters.email.jinja import JinjaEmailRenderer
    from adapters.jobs.dramatiq_broker import create_broker
    from adapters.jobs.publisher import DramatiqPublisher
    from adapters.markdown.markdown_it import MarkdownItRenderer
    from adapters.security.argon2 import Argon2PasswordHasher
    from adapters.security.denylist import FilePasswordDenylist
    from adapters.security.jwt import JwtTokenIssuer

    mailer: Mailer = overrides.get("mailer") or _mailer(settings)
    renderer: EmailRenderer = overrides.get("renderer") or JinjaEmailRenderer()
    broker: dramatiq.Broker = overrides.get("broker") or create_broker(settings.broker_url)
    publisher: MessagePublisher = overrides.get("publisher") or DramatiqPublisher(broker, settings.jobs_queue)
    hasher: PasswordHasher = overrides.get("hasher") or Argon2PasswordHasher()
    denylist: PasswordDenylist = overrides.get("denylist") or FilePasswordDenylist.bundled()
    secret_key = settings.resolved_secret_key()
    issuer: TokenIssuer = overrides.get("issuer") or JwtTokenIssuer(
        secret_key,
        settings.secret_keys_old,
        access_ttl_seconds=settings.access_token_ttl_seconds,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
    )

    revocations = AccountRevocations(shared.cache)
    identity = IdentityUseCases(
        sign_up=SignUp(uow_factory, hasher, denylist, clock, live=shared.live),
        verify_email=VerifyEmail(uow_factory, clock),
        resend_verification=ResendVerification(uow_factory, clock),
        sign_in=SignIn(uow_factory, hasher, issuer, clock),
        refresh=RefreshSession(uow_factory, issuer, clock),
        sign_out=SignOut(uow_factory, issuer, clock),
        forgot_password=ForgotPassword(uow_factory, clock),
        reset_password=ResetPassword(uow_factory, hasher, denylist, clock),
        authenticate=Authenticate(uow_factory, issuer, clock, database.principals),
        create_api_key=CreateApiKey(uow_factory, clock),
        list_api_keys=ListApiKeys(uow_factory),
        revoke_api_key=RevokeApiKey(uow_factory, clock),
        create_admin=CreateAdmin(uow_factory, hasher, denylist, clock),
        update_profile=UpdateProfile(uow_factory),
        change_password=ChangePassword(uow_factory, hasher, denylist, issuer, clock),
        delete_account=DeleteAccount(uow_factory, hasher, clock),
        export_account=ExportAccount(
            uow_factory, [ConversationDataExport(uow_factory), BillingDataExport(uow_factory)]
        ),
        list_users=ListUsers(uow_factory, clock),
        get_user=GetUser(uow_factory, clock),
        change_user=ChangeUser(uow_factory, clock, revocations),
        list_audit=ListAuditEntries(uow_factory),
        create_announcement=CreateAnnouncement(uow_factory, overrides.get("markdown") or MarkdownItRenderer(), clock),
        list_announcements=ListAnnouncements(uow_factory),
        get_announcement=GetAnnouncement(uow_factory),
        unsubscribe=Unsubscribe(uow_factory, clock),
    )
    providers: dict[str, LlmProvider] = overrides.get("providers") or build_providers(settings)
    closers += [provider.aclose for provider in providers.values() if hasattr(provider, "aclose")]
    catalogue: ModelCatalogue = overrides.get("catalogue") or build_catalogue(settings, providers)
    router = ProviderRouter(traced_providers(providers), clock=clock.monotonic, telemetry=telemetry)
    plans = StaticPlanCatalogue(build_plans(settings))
    billing_allowance = BillingAllowance(uow_factory, plans, settings.overage_max_tokens)
    allowance: AllowanceProvider = overrides.get("allowance") or CachedAllowance(
        billing_allowance, settings.allowance_cache_seconds
    )
    gateway: PaymentGateway = overrides.get("gateway") or _gateway(settings, clock)
    if hasattr(gateway, "aclose"):
        closers.append(gateway.aclose)
    links = SignedLinks(secret_key, settings.public_url)
    response_cache = ResponseCache(shared.cache, settings.cache_ttl_seconds)
    background = AsyncioBackgroundTasks()
    quota = QuotaGate(shared.ledger, uow_factory)
    conversation = ConversationUseCases(
        send_chat=SendChat(
            chat_store,
            quota,
            catalogue,
            router,
            allowance,
            response_cache,
            background,
            clock,
            shared.live,
            telemetry,
            revocations=revocations,
            revocation_check_seconds=settings.stream_revocation_check_seconds,
        ),
        list_conversations=ListConversations(uow_factory),
        get_conversation=GetConversation(uow_factory),
        delete_conversation=DeleteConversation(uow_factory),
        get_usage=GetUsage(uow_factory, shared.ledger, allowance, clock),
        list_models=ListModels(catalogue),
        count_tokens=CountTokens(catalogue),
        embed=Embed(catalogue, providers, allowance, quota, chat_store, clock),
    )
    quota_meter = QuotaGate(shared.ledger, uow_factory)
    billing = BillingUseCases(
        list_plans=ListPlans(plans),
        subscribe=Subscribe(uow_factory, gateway, plans, clock, links.invoice_url),
        cancel=CancelSubscription(uow_factory, gateway, plans, clock),
        get_subscription=GetSubscription(uow_factory, clock),
        get_usage=GetBillingUsage(allowance, quota_meter, clock),
        list_payments=ListPayments(uow_factory),
        show_invoice=ShowInvoice(uow_factory, links, JinjaInvoicePages(), settings.tax_rate_percent),
        receive_event=ReceiveGatewayEvent(uow_factory, clock),
        run_cycle=RunBillingCycle(uow_factory, gateway, plans, clock, links.invoice_url, quota_meter),
        grant_tokens=GrantTokens(uow_factory, billing_allowance, quota_meter, clock),
    )
    send_identity_email = SendIdentityEmail(uow_factory, mailer, renderer, clock, settings.public_url)
    handlers: dict[str, JobHandler] = {topic: send_identity_email for topic in IDENTITY_EMAILS}
    handlers[identity_topics.ANNOUNCEMENT_BATCH] = SendAnnouncementBatch(
        uow_factory, mailer, renderer, clock, settings.public_url, batch_size=settings.announcement_batch_size
    )
    handlers[billing_topics.EMAIL] = SendBillingEmail(uow_factory, mailer, renderer, settings.public_url)
    handlers[billing_topics.GATEWAY_EVENT] = ProcessGatewayEvent(uow_factory, gateway, plans, clock, links.invoice_url)
    handlers[billing_topics.QUOTA_THRESHOLD] = SendQuotaWarning(uow_factory, clock, settings.public_url)
    handlers[billing_topics.OVERAGE] = ReportOverage(uow_factory, gateway, plans)
    handlers[billing_topics.GRANT] = CountGrant(uow_factory, quota_meter)
    analytics = _analytics(settings, overrides, database, shared, uow_factory)
    closers += analytics.closers
    late = timedelta(seconds=settings.analytics_late_seconds)
    export_facts = ExportFacts(
        uow_factory, analytics.archive, analytics.lock, clock, late=late, on_exported=analytics.on_exported
    )
    purge = PurgeExportedFacts(uow_factory, clock, retention_days=settings.analytics_retention_days, late=late)
    from adapters.analytics.duckdb_queries import DuckDbAnalyticsQueries

    reports = AnalyticsReports(DuckDbAnalyticsQueries(analytics.views), shared.cache, clock)
    handlers[shared_topics.ACCOUNT_DELETED] = fan_out(
        EraseConversations(uow_factory), billing.cancel.for_deleted_account
    )

    return Container(
        settings=settings,
        clock=clock,
        uow_factory=uow_factory,
        cache=shared.cache,
        rate_limiter=shared.rate_limiter,
        mailer=mailer,
        renderer=renderer,
        publisher=publisher,
        broker=broker,
        hasher=hasher,
        denylist=denylist,
        issuer=issuer,
        identity=identity,
        conversation=conversation,
        billing=billing,
        analytics_reports=reports,
        gateway=gateway,
        invoice_links=links,
        catalogue=catalogue,
        router=router,
        ledger=shared.ledger,
        stream_log=shared.stream_log,
        relay_outbox=RelayOutbox(uow_factory, publisher, clock),
        run_job=RunJob(uow_factory, handlers, clock, telemetry),
        database_ping=database_ping,
        database_pool=_pool_status(database.engine, settings.database_max_overflow),
        background=background,
        live=shared.live,
        telemetry=telemetry,
        metrics_registry=registry,
        outbox_depth=OutboxDepth(uow_factory),
        fact_views=analytics.views,
        fact_archive=analytics.archive,
        run_lock=analytics.lock,
        analytics=AnalyticsUseCases(
            export=export_facts, run_export=RunAnalyticsExport(export_facts, purge, analytics.lock), purge=purge
        ),
        overrides=overrides,
        closers=closers,
    )
