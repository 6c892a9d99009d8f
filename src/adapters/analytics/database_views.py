"""FactViews over the facts still in the database alone: every fact of the fact store loaded into an
in-memory DuckDB for each query. Right, and quick for what one database holds between exports; the
Parquet warehouse reads the exported days from Parquet and only the tail from here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

import anyio.to_thread

from adapters.analytics.schema import connect, load_facts
from application.analytics.ports import AnalyticsUnitOfWork

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")


class DatabaseFactViews:
    def __init__(self, uow_factory: Callable[[], AnalyticsUnitOfWork]) -> None:
        self._uow_factory = uow_factory

    async def run(self, query: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[T, datetime | None]:
        async with self._uow_factory() as uow:
            facts = await uow.facts.between(None, None)

        def work() -> tuple[T, datetime | None]:
            connection = connect()
            try:
                as_of = load_facts(connection, facts)
                return query(connection), as_of
            finally:
                connection.close()

        return await anyio.to_thread.run_sync(work)
