"""Identity's use cases wired on the in-memory adapters, for unit tests that run in milliseconds.

Emails leave the way they do in production: a use case writes an outbox message, the relay publishes it and
the job runner calls SendIdentityEmail. `IdentityKit.run_jobs()` plays relay and worker, so a test only
"receives" an email once it has run the jobs, and a rolled-back change never sends one.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from adapters.memory.clock import FrozenClock
from adapters.memory.database import InMemoryDatabase
from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from adapters.memory.publisher import InMemoryPublisher
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from adapters.security.denylist import FilePasswordDenylist
from adapters.security.jwt import JwtTokenIssuer
from application.identity.admin_audit import ListAuditEntries
from application.identity.admin_users import ChangeUser, GetUser, ListUsers
from application.identity.announcements import CreateAnnouncement, GetAnnouncement, ListAnnouncements
from application.identity.api_keys import CreateApiKey, ListApiKeys, RevokeApiKey
from application.identity.authenticate import Authenticate
from application.identity.change_password import ChangePassword
from application.identity.create_admin import CreateAdmin
from application.identity.delete_account import DeleteAccount
from application.identity.dto import Principal, TokenPair
from application.identity.export_account import ExportAccount
from application.identity.refresh_session import RefreshSession
from application.identity.request_email import ForgotPassword, ResendVerification
from application.identity.reset_password import ResetPassword
from application.identity.sign_in import SignIn, SignInRequest
from application.identity.sign_out import SignOut
from application.identity.sign_up import SignUp, SignUpRequest
from application.identity.unsubscribe import Unsubscribe
from application.identity.update_profile import UpdateProfile
from application.identity.verify_email import VerifyEmail
from application.shared.jobs import RelayOutbox, RunJob
from domain.identity.model import User
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings

PUBLIC_URL = "https://parley.example.test"
SECRET_KEY = "unit-tests-only-secret-key-0123456789abcdef"
PASSWORD = "tangerine-kayak-orbit"
_VAR_DIR = Path(tempfile.gettempdir()) / "parley-unit-tests"
"""bootstrap's var_dir: nothing is written there (the secret key, mailer and database are given)."""


@functools.cache
def bundled_denylist() -> FilePasswordDenylist:
    """The shipped common-password list, read from disk once per test run."""
    return FilePasswordDenylist.bundled()


class TemplateNameRenderer:
    """Renders an email as its template name (the subject) and its link (the bodies): enough for a test to
    tell which email a user got and to follow its link, without depending on the real templates' wording."""

    def render(self, template: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
        link = str(context["link"])
        return template, f"{template}\n{link}\n", f'<p><a href="{link}">{template}</a></p>'


def read_link(mailer: InMemoryMailer, path: str, to: str | None = None) -> str:
    """The token in the link to PUBLIC_URL + path of the last email carrying one (sent to `to`, if given).
    Fails the test when no email has such a link, so a wrong host or path is caught too."""
    pattern = re.compile(re.escape(f"{PUBLIC_URL}{path}?token=") + r"([A-Za-z0-9_-]+)")
    for message in reversed(mailer.sent):
        match = pattern.search(message.text)
        if match is not None and (to is None or message.to == to):
            return match.group(1)
    raise AssertionError(f"no email links to {PUBLIC_URL}{path}?token=... (sent: {mailer.sent!r})")


def subjects_sent_to(mailer: InMemoryMailer, address: str) -> list[str]:
    """What `address` received, oldest first (subjects are template names, see TemplateNameRenderer)."""
    return [message.subject for message in mailer.sent if message.to == address]


@dataclass(kw_only=True)
class IdentityKit:
    db: InMemoryDatabase
    uow_factory: Callable[[], InMemoryUnitOfWork]
    mailer: InMemoryMailer
    publisher: InMemoryPublisher
    clock: FrozenClock
    hasher: Pbkdf2PasswordHasher
    issuer: JwtTokenIssuer
    denylist: FilePasswordDenylist
    sign_up: SignUp
    verify_email: VerifyEmail
    resend_verification: ResendVerification
    forgot_password: ForgotPassword
    sign_in: SignIn
    refresh: RefreshSession
    sign_out: SignOut
    reset_password: ResetPassword
    authenticate: Authenticate
    create_api_key: CreateApiKey
    list_api_keys: ListApiKeys
    revoke_api_key: RevokeApiKey
    update_profile: UpdateProfile
    change_password: ChangePassword
    delete_account: DeleteAccount
    export_account: ExportAccount
    create_admin: CreateAdmin
    list_users: ListUsers
    get_user: GetUser
    change_user: ChangeUser
    list_audit: ListAuditEntries
    create_announcement: CreateAnnouncement
    list_announcements: ListAnnouncements
    get_announcement: GetAnnouncement
    unsubscribe: Unsubscribe
    relay_outbox: RelayOutbox
    run_job: RunJob
    jobs_seen: int = 0
    """How many of the publisher's messages run_jobs() has already handed to the runner."""

    async def run_jobs(self) -> int:
        """Relay the outbox and run each newly published job once, like the worker; return how many ran."""
        ran = 0
        while await self.relay_outbox():
            for message_id, _topic in self.publisher.published[self.jobs_seen :]:
                ran += await self.run_job(message_id)
            self.jobs_seen = len(self.publisher.published)
        return ran

    async def signed_up(self, email: str, password: str = PASSWORD) -> User:
        """Sign up and deliver the verification email, leaving the address unverified."""
        await self.sign_up(SignUpRequest(email=email, password=password))
        await self.run_jobs()
        user = await self.stored_user(email)
        assert user is not None
        return user

    async def signed_up_and_verified(self, email: str, password: str = PASSWORD) -> User:
        """Sign up and follow the emailed verification link."""
        await self.signed_up(email, password)
        return await self.verify_email(read_link(self.mailer, "/verify-email", to=email))

    async def signed_in(self, email: str, password: str = PASSWORD) -> TokenPair:
        return await self.sign_in(SignInRequest(email=email, password=password))

    async def principal(self, email: str, password: str = PASSWORD) -> Principal:
        """Sign in and authenticate with the access token, as a request carrying it would."""
        tokens = await self.signed_in(email, password)
        return await self.authenticate(tokens.access_token)

    async def admin(self, email: str, password: str = PASSWORD) -> Principal:
        """An admin made by the operator command, signed in."""
        await self.create_admin(email, password)
        return await self.principal(email, password)

    async def stored_user(self, email: str) -> User | None:
        async with self.uow_factory() as uow:
            return await uow.users.get_by_email(email)


def build_identity_kit(
    *,
    hasher: Pbkdf2PasswordHasher | None = None,
    issuer: JwtTokenIssuer | None = None,
    clock: FrozenClock | None = None,
) -> IdentityKit:
    """The use cases as the composition root wires them (bootstrap), on in-memory adapters."""
    db = InMemoryDatabase()

    def uow_factory() -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(db)

    ports: dict[str, Any] = {
        "uow_factory": uow_factory,
        "mailer": InMemoryMailer(),
        "publisher": InMemoryPublisher(),
        "clock": clock or FrozenClock(),
        "hasher": hasher or Pbkdf2PasswordHasher(),
        "issuer": issuer or JwtTokenIssuer(SECRET_KEY),
        "denylist": bundled_denylist(),
    }
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=_VAR_DIR, secret_key=SECRET_KEY, public_url=PUBLIC_URL
    )
    container = bootstrap(settings, renderer=TemplateNameRenderer(), **ports)
    use_cases = {field.name: getattr(container.identity, field.name) for field in fields(container.identity)}
    return IdentityKit(db=db, relay_outbox=container.relay_outbox, run_job=container.run_job, **ports, **use_cases)
