"""THE composition root: `bootstrap(settings, **overrides)` picks an adapter for every port and wires the
use cases. An override replaces any port by name (tests pass in-memory adapters this way)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq

from adapters.memory.cache import InMemoryCache
from adapters.memory.rate_limiter import InMemoryRateLimiter
from application.identity.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from application.identity.authenticate import Authenticate
from application.identity.create_admin import CreateAdmin
from application.identity.emails import IDENTITY_EMAILS, SendIdentityEmail
from application.identity.ports import IdentityUnitOfWork
from application.identity.refresh_session import RefreshSession
from application.identity.request_email import ForgotPassword, ResendVerification
from application.identity.reset_password import ResetPassword
from application.identity.sign_in import SignIn
from application.identity.sign_out import SignOut
from application.identity.sign_up import SignUp
from application.identity.verify_email import VerifyEmail
from application.shared.jobs import JobHandler, RelayOutbox, RunJob
from application.shared.ports import Cache, EmailRenderer, Mailer, MessagePublisher, RateLimiter
from domain.identity.ports import PasswordDenylist, PasswordHasher, TokenIssuer
from domain.shared.clock import Clock, SystemClock
from entrypoints.settings import Settings


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
    relay_outbox: RelayOutbox
    run_job: RunJob
    database_ping: Callable[[], Awaitable[bool]]
    overrides: dict[str, Any] = field(default_factory=dict)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()


def _database(settings: Settings, overrides: dict[str, Any]) -> tuple[Any, Callable[[], Awaitable[bool]], list[Any]]:
    if "uow_factory" in overrides:
        ping: Callable[[], Awaitable[bool]] = overrides.get("database_ping") or _always_ok
        return overrides["uow_factory"], ping, []
    from adapters.sql.engine import create_engine, create_session_factory
    from adapters.sql.engine import ping as sql_ping
    from adapters.sql.unit_of_work import SqlUnitOfWork

    engine = create_engine(settings.resolved_database_url)
    session_factory = create_session_factory(engine)

    async def ping_db() -> bool:
        return await sql_ping(engine)

    return (lambda: SqlUnitOfWork(session_factory)), ping_db, [engine.dispose]


async def _always_ok() -> bool:
    return True


def _cache_and_limiter(settings: Settings, overrides: dict[str, Any]) -> tuple[Cache, RateLimiter, list[Any]]:
    if not settings.redis_url:
        return overrides.get("cache") or InMemoryCache(), overrides.get("rate_limiter") or InMemoryRateLimiter(), []
    from adapters.redis.cache import RedisCache
    from adapters.redis.client import create_redis
    from adapters.redis.rate_limiter import RedisRateLimiter

    client = create_redis(settings.redis_url)
    cache = overrides.get("cache") or RedisCache(client, prefix=f"{settings.redis_prefix}cache:")
    limiter = overrides.get("rate_limiter") or RedisRateLimiter(client, prefix=f"{settings.redis_prefix}rl:")
    return cache, limiter, [client.aclose]


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
    """Build the container. Overrides (by port name): clock, uow_factory, database_ping, cache, rate_limiter,
    mailer, renderer, publisher, broker, hasher, denylist, issuer."""
    settings = settings or Settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    clock: Clock = overrides.get("clock") or SystemClock()
    uow_factory, database_ping, closers = _database(settings, overrides)
    cache, rate_limiter, redis_closers = _cache_and_limiter(settings, overrides)
    closers += redis_closers

    from adapters.email.jinja import JinjaEmailRenderer
    from adapters.jobs.dramatiq_broker import create_broker
    from adapters.jobs.publisher import DramatiqPublisher
    from adapters.security.argon2 import Argon2PasswordHasher
    from adapters.security.denylist import FilePasswordDenylist
    from adapters.security.jwt import JwtTokenIssuer

    mailer: Mailer = overrides.get("mailer") or _mailer(settings)
    renderer: EmailRenderer = overrides.get("renderer") or JinjaEmailRenderer()
    broker: dramatiq.Broker = overrides.get("broker") or create_broker(settings.broker_url)
    publisher: MessagePublisher = overrides.get("publisher") or DramatiqPublisher(broker, settings.jobs_queue)
    hasher: PasswordHasher = overrides.get("hasher") or Argon2PasswordHasher()
    denylist: PasswordDenylist = overrides.get("denylist") or FilePasswordDenylist.bundled()
    issuer: TokenIssuer = overrides.get("issuer") or JwtTokenIssuer(
        settings.resolved_secret_key(),
        settings.secret_keys_old,
        access_ttl_seconds=settings.access_token_ttl_seconds,
        refresh_ttl_seconds=settings.refresh_token_ttl_seconds,
    )

    identity = IdentityUseCases(
        sign_up=SignUp(uow_factory, hasher, denylist, clock),
        verify_email=VerifyEmail(uow_factory, clock),
        resend_verification=ResendVerification(uow_factory, clock),
        sign_in=SignIn(uow_factory, hasher, issuer, clock),
        refresh=RefreshSession(uow_factory, issuer, clock),
        sign_out=SignOut(uow_factory, issuer, clock),
        forgot_password=ForgotPassword(uow_factory, clock),
        reset_password=ResetPassword(uow_factory, hasher, denylist, clock),
        authenticate=Authenticate(uow_factory, issuer, clock),
        create_api_key=CreateApiKey(uow_factory, clock),
        list_api_keys=ListApiKeys(uow_factory),
        revoke_api_key=RevokeApiKey(uow_factory, clock),
        create_admin=CreateAdmin(uow_factory, hasher, denylist, clock),
    )
    send_identity_email = SendIdentityEmail(uow_factory, mailer, renderer, clock, settings.public_url)
    handlers: dict[str, JobHandler] = {topic: send_identity_email for topic in IDENTITY_EMAILS}

    return Container(
        settings=settings,
        clock=clock,
        uow_factory=uow_factory,
        cache=cache,
        rate_limiter=rate_limiter,
        mailer=mailer,
        renderer=renderer,
        publisher=publisher,
        broker=broker,
        hasher=hasher,
        denylist=denylist,
        issuer=issuer,
        identity=identity,
        relay_outbox=RelayOutbox(uow_factory, publisher, clock),
        run_job=RunJob(uow_factory, handlers, clock),
        database_ping=database_ping,
        overrides=overrides,
        closers=closers,
    )
