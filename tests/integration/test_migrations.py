"""The Alembic history on SQLite and PostgreSQL: every step goes up, down and up again (the stairway),
and the migrated schema is exactly what the ORM expects, so no model change ships without its migration."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from adapters.sql.engine import create_engine
from adapters.sql.migrations import current, downgrade, history, upgrade
from adapters.sql.tables import metadata


def test_the_history_is_one_line_from_base_to_head() -> None:
    revisions = history()

    assert revisions
    assert len(set(revisions)) == len(revisions)


def test_every_revision_goes_up_down_and_up_again(empty_database_url: str) -> None:
    url = empty_database_url
    previous: str | None = None
    for revision in history():
        upgrade(url, revision)
        assert current(url) == revision
        downgrade(url, "-1")
        assert current(url) == previous
        upgrade(url, revision)
        assert current(url) == revision
        previous = revision

    downgrade(url, "base")
    assert current(url) is None
    assert asyncio.run(table_names(url)) <= {"alembic_version"}
    upgrade(url, "head")
    assert current(url) == history()[-1]


def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    differences = asyncio.run(schema_differences(database_url))

    assert differences == []


async def schema_differences(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_compare)
    finally:
        await engine.dispose()


def _compare(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, metadata))


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
