"""The analytics facts as DuckDB sees them: one relation per fact kind, named after the kind
(`message.replied` -> `message_replied`), with the common columns (id, occurred_at, user_id) and the kind's
own fields typed from FACT_FIELDS, then `date`: the UTC day of `occurred_at` (DAY_OF). The Parquet files of
a kind have exactly the kind's columns (`columns`; the partition columns `kind` and `date` come from the
hive-style path), and every relation adds `date` (the partition column over Parquet, DAY_OF over the tail and
a test's hand-made facts), so the queries read Parquet, the database's tail and a test's hand-made facts
alike, and filter on `date` to prune the files of days outside the range.

`FactViews` is what the analytics queries run against: a DuckDB connection on which every kind's relation
exists, and the time of the newest fact it holds (`as_of`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from adapters.analytics.derived import derived_statements
from application.shared.facts import FACT_FIELDS, Fact, FactKind, FieldType

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")

DUCKDB_TYPES: dict[FieldType, str] = {"str": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN"}
COMMON_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "VARCHAR"),
    ("occurred_at", "TIMESTAMPTZ"),
    ("user_id", "VARCHAR"),
)


DAY_OF = "CAST(DATE '1970-01-01' + CAST(epoch_us(occurred_at) // 86400000000 AS INTEGER) AS DATE)"
"""The UTC day of `occurred_at`, in integer arithmetic (no time-zone code, whatever the session's TimeZone)."""


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection that reads and shows times in UTC. DuckDB (about 26 MiB resident) is
    imported here, on the first connection: an API process that answers no analytics question and runs no
    export never loads it."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def relation_name(kind: FactKind) -> str:
    """`message.replied` -> `message_replied`."""
    return kind.value.replace(".", "_")


def columns(kind: FactKind) -> tuple[tuple[str, str], ...]:
    """(name, DuckDB type) of every column of the kind's relation, common ones first."""
    return COMMON_COLUMNS + tuple((name, DUCKDB_TYPES[kind_type]) for name, kind_type in FACT_FIELDS[kind].items())


def row_values(kind: FactKind, row: dict[str, Any]) -> tuple[Any, ...]:
    """One fact's values in `columns(kind)` order (ids as text; `row` is Fact.row() or a stored row)."""
    values: list[Any] = []
    for name, _type in columns(kind):
        value = row.get(name)
        if name in ("id", "user_id") and value is not None:
            value = str(value)
        values.append(value)
    return tuple(values)


def create_table(connection: duckdb.DuckDBPyConnection, kind: FactKind, name: str | None = None) -> str:
    """An empty table with the kind's columns (named `name`, else the kind's relation name)."""
    table = name or relation_name(kind)
    body = ", ".join(f'"{column}" {column_type}' for column, column_type in columns(kind))
    connection.execute(f'CREATE OR REPLACE TABLE "{table}" ({body})')
    return table


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def insert_rows(
    connection: duckdb.DuckDBPyConnection, table: str, kind: FactKind, rows: Iterable[tuple[Any, ...]]
) -> None:
    """Insert rows (in `columns(kind)` order) in one statement: one typed list per column, unnested side by
    side (row by row, executemany costs milliseconds a row). Times go over as microseconds since the epoch."""
    batch = list(rows)
    if not batch:
        return
    values: list[list[Any]] = [list(column) for column in zip(*batch, strict=True)]
    selects: list[str] = []
    for index, (_name, column_type) in enumerate(columns(kind)):
        if column_type == "TIMESTAMPTZ":
            values[index] = [None if moment is None else (moment - _EPOCH) // _MICROSECOND for moment in values[index]]
            selects.append("make_timestamptz(unnest(?::BIGINT[]))")
        else:
            selects.append(f"unnest(?::{column_type}[])")
    connection.execute(f'INSERT INTO "{table}" SELECT {", ".join(selects)}', values)


class StagedFacts:
    """Facts staged in DuckDB tables, one per kind that has any (`tables`), named `prefix` + the kind's
    relation, each created with the kind's columns on its first facts: pages of facts go in one after the
    other (`add`), and what Python held of a page can go as soon as it is in. `drop` removes the tables."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, prefix: str) -> None:
        self._connection = connection
        self._prefix = prefix
        self.tables: dict[FactKind, str] = {}

    def add(self, facts: Sequence[Fact]) -> None:
        by_kind: dict[FactKind, list[Fact]] = {}
        for fact in facts:
            by_kind.setdefault(fact.kind, []).append(fact)
        for kind, of_kind in by_kind.items():
            table = self.tables.get(kind)
            if table is None:
                table = self.tables[kind] = create_table(self._connection, kind, self._prefix + relation_name(kind))
            insert_rows(self._connection, table, kind, (row_values(kind, fact.row()) for fact in of_kind))

    def drop(self) -> None:
        for table in self.tables.values():
            self._connection.execute(f'DROP TABLE IF EXISTS "{table}"')
        self.tables.clear()


def select_with_day(kind: FactKind, source: str) -> str:
    """SELECT of the kind's relation columns from a table with the kind's columns: `date` computed (DAY_OF)."""
    names = ", ".join(f'"{name}"' for name, _type in columns(kind))
    return f"SELECT {names}, {DAY_OF} AS date FROM {source}"  # noqa: S608 (names are ours)


def load_facts(connection: duckdb.DuckDBPyConnection, facts: Sequence[Fact]) -> datetime | None:
    """Create every kind's relation holding `facts` (hand-made facts in tests, the database's facts
    elsewhere): a table `rows_{relation}` and the relation, a view adding `date`, then the derived relations
    computed from them; the newest fact's time, or None when there are none."""
    for kind in FactKind:
        table = create_table(connection, kind, f"rows_{relation_name(kind)}")
        insert_rows(connection, table, kind, (row_values(kind, fact.row()) for fact in facts if fact.kind is kind))
        body = select_with_day(kind, f'"{table}"')
        connection.execute(f'CREATE OR REPLACE VIEW "{relation_name(kind)}" AS {body}')
    for statement in derived_statements(None):
        connection.execute(statement)
    return max((fact.occurred_at for fact in facts), default=None)


class FactViews(Protocol):
    """Runs a query on a DuckDB connection where every kind's relation exists (Parquet plus the not yet
    exported tail, each fact once). DuckDB is synchronous: `run` takes the query off the event loop."""

    async def run(self, query: Callable[[duckdb.DuckDBPyConnection], T]) -> tuple[T, datetime | None]:
        """`query`'s result, and `as_of`: the time of the newest fact the relations hold (None if none)."""
        ...
