"""The ASGI app in-process, wired on in-memory adapters through bootstrap overrides."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
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
