"""Alembic's environment: one async engine per run, migrations executed through `run_sync`.

The URL comes from `config.attributes["url"]` (set by adapters.sql.migrations) or, for a hand-made
alembic.ini, from `sqlalchemy.url`. SQLite gets batch mode so later ALTERs work by copying the table.
Migrations use a plain engine on purpose: the app's SQLite engine turns foreign keys on, and a batch
table copy under foreign keys would cascade or fail.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql.tables import metadata

config = context.config


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No database URL: pass one to adapters.sql.migrations or set sqlalchemy.url")
    return str(url)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run them against a database.")
asyncio.run(_run_async())
