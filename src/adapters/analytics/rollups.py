"""The rollups the export writes beside the facts, from the archive's own Parquet, for the days before a
frontier (`before`): days whose every fact is in the archive and will not change. Layout under the archive's
root (hive-style, a file per partition, replaced in one step like a day's facts):

    rollup=messages/date=D/          per day: message sums by provider, model, plan, cached, failed
    rollup=latency_day/date=D/       per day: how many served replies had each latency and ttft value (ms)
    rollup=latency_month/date=M/     the same per calendar month (M its 1st)
    rollup=active_gaps/date=D/       per day: users active that day by days to their next active day (final)
    rollup=active_recent/date=F/     for frontier F: the gaps of the 31 days before it that are final, and each
                                     user's last active day before F (whose next day is not known yet)
    rollup=retention/date=W/         per ISO week W: users active in W by the day they signed up
    rollup=mrr_steps/date=F/         for frontier F: the MRR and paying-users steps per day of the paid states
                                     and islands that ended before F
    rollup=mrr_islands/date=F/       those islands, by first and last day and the next island's first day
    rollup=mrr_open/date=F/          each subscription's last paid state and each user's open island before F,
                                     closed at query time by the changes from F on
    rollup=month_<kind>/month=M/     every kind but messages, a calendar month's facts in one file (with `date`)
    rollup=manifest/                 the frontier and which rollups have files: written last

A run recomputes from the old frontier (or from the earliest day the export rewrote, if earlier) to the new
one and writes the manifest last: a reader keeps the old frontier until then, and reads nothing of a rollup
past it, so a half-done run is never seen. Rollups of days whose facts the retention has deleted from the
database stay: they are computed from Parquet, which keeps every day.

Retention cells take a user's cohort from their signup (`user.signed_up`'s id is derived from the user's,
so a user has one). The SQL over each partition is in derived.py, shared with the queries' raw path."""

# ruff: noqa: S608 (statements put together from derived.py's constants and the archive's paths)

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from adapters.analytics.derived import (
    GAP_CAP,
    SUBSCRIPTION_RELATIONS,
    Rollups,
    latency_select,
    message_stats_select,
    mrr_rollup_selects,
    mrr_rollup_tables,
    user_days_select,
)
from adapters.analytics.schema import columns, relation_name
from application.shared.facts import FactKind

if TYPE_CHECKING:
    import duckdb

ONE_DAY = timedelta(days=1)
DAILY = ("messages", "latency_day", "active_gaps")
MESSAGE_KIND = FactKind.MESSAGE_REPLIED
COMPACTED = tuple(kind for kind in FactKind if kind is not MESSAGE_KIND)
SUBSCRIPTION_KINDS = tuple(kind for kind in FactKind if relation_name(kind) in SUBSCRIPTION_RELATIONS)
MRR_FILES = {"steps": "mrr_steps", "islands": "mrr_islands", "open": "mrr_open"}
"""The MRR rollups, one file each per frontier (like active_recent), by the name derived.py reads them by."""


def month_name(kind: FactKind) -> str:
    return f"month_{relation_name(kind)}"


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _days(start: date, end: date, step: timedelta = ONE_DAY) -> Iterable[date]:
    day = start
    while day < end:
        yield day
        day += step


def _months(start: date, end: date) -> Iterable[date]:
    month = month_start(start)
    while month < end:
        yield month
        month = next_month(month)


@dataclass(frozen=True)
class RollupFiles:
    """What the writer needs of the archive: where things are, and how a partition's file is written (a
    SELECT, staged and put in place in one step) or removed."""

    kind_glob: Callable[[FactKind], str]
    path: Callable[[str, date], str]
    """The file of a rollup's partition (a day, a week's Monday, a month's 1st)."""
    glob: Callable[[str], str]
    manifest: str
    write: Callable[[duckdb.DuckDBPyConnection, str, str, list[object]], None]
    """(cursor, final path, SELECT, its parameters)."""
    remove: Callable[[str], None]
    partitions: Callable[[str], set[date]]
    """The partitions of a rollup (or the days of a kind, by relation name) that hold a file."""


def _scan(files: RollupFiles, kind: FactKind) -> str:
    return f"read_parquet('{files.kind_glob(kind)}', hive_partitioning = true)"


def read_manifest(connection: duckdb.DuckDBPyConnection, files: RollupFiles) -> Rollups | None:
    """The manifest, on a cursor of its own (the archive's connection is shared with a running export)."""
    import duckdb  # loaded already: `connection` is DuckDB's (see schema.connect)

    cursor = connection.cursor()
    try:
        row = cursor.execute(f"SELECT before, present FROM read_parquet('{files.manifest}')").fetchone()
    except duckdb.Error:
        return None  # no manifest: nothing rolled up yet
    finally:
        cursor.close()
    if row is None:
        return None
    before, present = row[0], frozenset(row[1])
    names = [*DAILY, "latency_month", "retention", *(month_name(kind) for kind in COMPACTED)]
    globs = {name: files.glob(name) for name in names}
    recent = files.path("active_recent", before) if "active_recent" in present else None
    mrr = {name: files.path(rollup, before) for name, rollup in MRR_FILES.items()} if "mrr" in present else None
    return Rollups(before=before, present=present, globs=globs, recent=recent, mrr=mrr)


def roll_up(
    connection: duckdb.DuckDBPyConnection, files: RollupFiles, before: date, changed: date | None
) -> Rollups | None:
    """Bring the rollups up to `before` (every day before it is completely archived), recomputing from
    `changed` when the export rewrote a day before the old frontier; the manifest read back."""
    held = read_manifest(connection, files)
    kinds = {kind: files.partitions(relation_name(kind)) for kind in FactKind}
    oldest = min((day for days in kinds.values() for day in days), default=None)
    if oldest is None:
        return held
    start = held.before if held is not None else oldest
    if changed is not None:
        start = min(start, changed)
    start = max(min(start, before), oldest)
    has_subscriptions = any(kinds[kind] for kind in SUBSCRIPTION_KINDS)
    mrr_missing = has_subscriptions and (held is None or "mrr" not in held.present)
    if held is not None and held.before == before and start >= before and not mrr_missing:
        return held
    cursor = connection.cursor()
    try:
        if kinds[MESSAGE_KIND]:
            _messages(cursor, files, start, before)
            _latency(cursor, files, start, before)
            _gaps(cursor, files, start, before)
            if kinds[FactKind.USER_SIGNED_UP]:
                _retention(cursor, files, start, before)
        for kind in COMPACTED:
            if kinds[kind]:
                _compact(cursor, files, kind, start, before)
        present = sorted(
            name
            for name in [*DAILY, "latency_month", "retention", *(month_name(kind) for kind in COMPACTED)]
            if files.partitions(name)
        )
        if kinds[MESSAGE_KIND]:
            present.append("active_recent")
        if has_subscriptions:
            _mrr(cursor, files, {kind: bool(kinds[kind]) for kind in SUBSCRIPTION_KINDS}, before)
            present.append("mrr")
        files.write(cursor, files.manifest, "SELECT ?::DATE AS before, ?::VARCHAR[] AS present", [before, present])
        for name in ("active_recent", *MRR_FILES.values()):
            for frontier in files.partitions(name):
                if frontier != before and (held is None or frontier != held.before):
                    files.remove(files.path(name, frontier))
    finally:
        cursor.close()
    return read_manifest(connection, files)


def _per_partition(
    cursor: duckdb.DuckDBPyConnection,
    files: RollupFiles,
    name: str,
    table: str,
    partitions: Iterable[date],
    key: str = "date",
) -> None:
    """Write each partition's rows of `table` (its `key` column left out: the path holds it); a partition
    without rows loses its file."""
    having = {row[0] for row in cursor.execute(f'SELECT DISTINCT "{key}" FROM "{table}"').fetchall()}
    existing = files.partitions(name)
    for partition in partitions:
        path = files.path(name, partition)
        if partition in having:
            select = f'SELECT * EXCLUDE ("{key}") FROM "{table}" WHERE "{key}" = ?'
            files.write(cursor, path, select, [partition])
        elif partition in existing:
            files.remove(path)
    cursor.execute(f'DROP TABLE "{table}"')


def _messages(cursor: duckdb.DuckDBPyConnection, files: RollupFiles, start: date, before: date) -> None:
    where = "date >= $start AND date < $before"
    cursor.execute(
        f"CREATE OR REPLACE TEMP TABLE rollup_messages AS {message_stats_select(_scan(files, MESSAGE_KIND), where)}",
        {"start": start, "before": before},
    )
    _per_partition(cursor, files, "messages", "rollup_messages", _days(start, before))


def _latency(cursor: duckdb.DuckDBPyConnection, files: RollupFiles, start: date, before: date) -> None:
    """Days from `start`; months that end by `before` and reach `start` (computed over the whole month)."""
    first = month_start(start)
    days = latency_select(_scan(files, MESSAGE_KIND), "date >= $first AND date < $before", key="date")
    cursor.execute(f"CREATE OR REPLACE TEMP TABLE latency_days AS {days}", {"first": first, "before": before})
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE rollup_latency_day AS SELECT * FROM latency_days WHERE date >= ?", [start]
    )
    _per_partition(cursor, files, "latency_day", "rollup_latency_day", _days(start, before))
    full_months = [month for month in _months(start, before) if next_month(month) <= before]
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE rollup_latency_month AS "
        "SELECT date_trunc('month', date)::DATE AS date, provider, model, metric, value, sum(n)::BIGINT AS n "
        "FROM latency_days WHERE date < ? GROUP BY ALL",
        [next_month(full_months[-1]) if full_months else first],
    )
    cursor.execute("DROP TABLE latency_days")
    _per_partition(cursor, files, "latency_month", "rollup_latency_month", full_months)


def _gaps(cursor: duckdb.DuckDBPyConnection, files: RollupFiles, start: date, before: date) -> None:
    """The final gaps of the days from `start` - 31 to `before` - 31 (their next active day, if any within 31
    days, is before `before`), and the frontier's recent file."""
    window = start - timedelta(days=GAP_CAP)
    settled = before - timedelta(days=GAP_CAP)
    user_days = user_days_select(_scan(files, MESSAGE_KIND), "date >= $window AND date < $before")
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE rollup_marked AS "
        f"SELECT user_id, day, lead(day) OVER (PARTITION BY user_id ORDER BY day) AS next FROM ({user_days})",
        {"window": window, "before": before},
    )
    final = (
        f"SELECT day AS date, CAST(least(coalesce(next - day, {GAP_CAP}), {GAP_CAP}) AS INTEGER) AS gap, "
        "count(*)::BIGINT AS n FROM rollup_marked WHERE day < $settled GROUP BY ALL"
    )
    cursor.execute(f"CREATE OR REPLACE TEMP TABLE rollup_gaps AS {final}", {"settled": settled})
    _per_partition(cursor, files, "active_gaps", "rollup_gaps", _days(window, settled))
    recent = """
        SELECT day, CAST(next - day AS INTEGER) AS gap, NULL::VARCHAR AS user_id, count(*)::BIGINT AS n
        FROM rollup_marked WHERE day >= ? AND next IS NOT NULL GROUP BY day, next - day
        UNION ALL
        SELECT day, NULL::INTEGER, user_id, 1::BIGINT FROM rollup_marked WHERE day >= ? AND next IS NULL
    """
    files.write(cursor, files.path("active_recent", before), recent, [settled, settled])
    cursor.execute("DROP TABLE rollup_marked")


def _retention(cursor: duckdb.DuckDBPyConnection, files: RollupFiles, start: date, before: date) -> None:
    """The weeks that end by `before` and reach `start`: per (week, signup day), the users active in it."""
    first, end = week_start(start), week_start(before)
    cells = f"""
        WITH signups AS (
            SELECT user_id, min(date) AS signup FROM {_scan(files, FactKind.USER_SIGNED_UP)}
            WHERE date < $before AND user_id IS NOT NULL GROUP BY user_id
        ),
        activity AS (
            SELECT DISTINCT user_id, date_trunc('week', date)::DATE AS week FROM {_scan(files, MESSAGE_KIND)}
            WHERE date >= $first AND date < $end AND user_id IS NOT NULL
        )
        SELECT a.week AS date, s.signup, count(*)::BIGINT AS users
        FROM activity a JOIN signups s ON s.user_id = a.user_id
        WHERE s.signup < a.week + 7 GROUP BY ALL
    """
    cursor.execute(
        f"CREATE OR REPLACE TEMP TABLE rollup_retention AS {cells}", {"before": before, "first": first, "end": end}
    )
    _per_partition(cursor, files, "retention", "rollup_retention", _days(first, end, timedelta(days=7)))


def _compact(cursor: duckdb.DuckDBPyConnection, files: RollupFiles, kind: FactKind, start: date, before: date) -> None:
    """The kind's months that end by `before` and reach `start`, a file each (rows as in the day files)."""
    names = ", ".join(f'"{name}"' for name, _type in columns(kind))
    name = month_name(kind)
    existing = files.partitions(name)
    for month in _months(start, before):
        if next_month(month) > before:
            break
        path = files.path(name, month)
        select = f"SELECT {names}, date FROM {_scan(files, kind)} WHERE date >= ? AND date < ? ORDER BY occurred_at, id"
        count = cursor.execute(
            f"SELECT count(*) FROM {_scan(files, kind)} WHERE date >= ? AND date < ?", [month, next_month(month)]
        ).fetchone()
        if count is not None and count[0]:
            files.write(cursor, path, select, [month, next_month(month)])
        elif month in existing:
            files.remove(path)


def _mrr(cursor: duckdb.DuckDBPyConnection, files: RollupFiles, with_files: dict[FactKind, bool], before: date) -> None:
    """The frontier's MRR files, from every subscription change before it (a few hundred thousand rows at
    most: recomputed whole at every run, like the users' recent active days), read from the month files
    (_compact wrote this run's before) and the day files after them."""
    scan = {relation_name(kind): _months_then_days(files, kind, before) for kind, has in with_files.items() if has}
    for statement in mrr_rollup_tables(scan, before):
        cursor.execute(statement)
    for name, select in mrr_rollup_selects().items():
        files.write(cursor, files.path(MRR_FILES[name], before), select, [])
    cursor.execute("DROP TABLE mrr_paid")
    cursor.execute("DROP TABLE mrr_islands")


def _months_then_days(files: RollupFiles, kind: FactKind, before: date) -> str:
    """The kind's facts (its columns and `date`) from its complete months' files and the day files after them
    (every complete month has its file, or had no fact), as the warehouse's views read them."""
    if not files.partitions(month_name(kind)):
        return _scan(files, kind)
    names = ", ".join(f'"{name}"' for name, _type in columns(kind))
    until = f"DATE '{month_start(before).isoformat()}'"
    months = f"read_parquet('{files.glob(month_name(kind))}', hive_partitioning = false)"
    return (
        f"(SELECT {names}, date FROM {months} WHERE date < {until} "
        f"UNION ALL SELECT {names}, date FROM {_scan(files, kind)} WHERE date >= {until})"
    )
