"""Alembic driven from code: no alembic.ini, so the CLI and the tests migrate with just a URL.

These are synchronous on purpose: migrations/env.py runs its own event loop (`asyncio.run`), so call
them before the server's loop starts, or from async code through `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"


def _script_location() -> Path:
    """The wheel puts migrations/ beside the packages; a source checkout has it at the repo root."""
    here = Path(__file__).resolve()
    candidates = (here.parents[2] / "migrations", here.parents[3] / "migrations")
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError(f"No Alembic migrations folder at {' or '.join(map(str, candidates))}")


def alembic_config(url: str | None = None) -> Config:
    """The URL travels in `attributes`, not the ini options, so a password with '%' needs no escaping."""
    config = Config()
    config.set_main_option("script_location", str(_script_location()))
    config.set_main_option("file_template", FILE_TEMPLATE)
    config.set_main_option("path_separator", "os")
    config.set_main_option("timezone", "UTC")
    if url is not None:
        config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database is at (None for an empty database)."""
    return asyncio.run(_current(url))


async def _current(url: str) -> str | None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current_revision)
    finally:
        await engine.dispose()


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def history() -> list[str]:
    """Every revision id, base first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]
