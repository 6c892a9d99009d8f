"""The ASGI app in-process, wired on in-memory adapters through bootstrap overrides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
from litestar.testing import AsyncTestClient

from adapters.memory.database import InMemoryDatabase
from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from adapters.memory.unit_of_work import InMemoryUnitOfWork
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.app import create_app
from entrypoints.settings import Settings


def memory_container(tmp_path: Path, settings: dict[str, Any] | None = None, **overrides: Any) -> Container:
    db = InMemoryDatabase()
    options: dict[str, Any] = {
        "uow_factory": lambda: InMemoryUnitOfWork(db),
        "mailer": InMemoryMailer(),
        "hasher": Pbkdf2PasswordHasher(),
        **overrides,
    }
    config = Settings(var_dir=tmp_path, secret_key="k" * 48, _env_file=None, **(settings or {}))  # type: ignore[call-arg]
    return bootstrap(config, **options)


@asynccontextmanager
async def app_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncTestClient(app=create_app(container), raise_server_exceptions=False) as client:
        yield client


@asynccontextmanager
async def loop_client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the test's own event loop, without its lifespan: no in-process worker and no outbox relay
    (the test runs jobs itself, with `container.run_job`), and the container's Redis and database connections
    may be used by the test directly (app_client serves from another thread's loop)."""
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@asynccontextmanager
async def anthropic_sdk(client: httpx.AsyncClient, **options: Any) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """The official `anthropic` SDK on the app `client` runs (the SDK speaks httpx2, so it gets its own
    in-process transport to the same, already started, app)."""
    assert isinstance(client, AsyncTestClient)
    transport = httpx2.ASGITransport(app=client.app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield anthropic.AsyncAnthropic(base_url="http://testserver", http_client=http, max_retries=0, **options)


PASSWORD = "correct horse battery staple"


async def verified_user_token(container: Container, email: str, *, plan: str = "free", verified: bool = True) -> str:
    """A signed-up user (verified unless told otherwise) on `plan`, signed in: returns the access token."""
    from application.identity.sign_in import SignInRequest
    from application.identity.sign_up import SignUpRequest

    await container.identity.sign_up(SignUpRequest(email, PASSWORD))
    async with container.uow_factory() as uow:
        user = await uow.users.get_by_email(email)
        assert user is not None
        if verified:
            user.verify_email(container.clock.now())
        user.plan = plan
        await uow.users.update(user)
        await uow.commit()
    pair = await container.identity.sign_in(SignInRequest(email, PASSWORD))
    return pair.access_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
