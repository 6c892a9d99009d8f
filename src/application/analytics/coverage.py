"""What the archive surely holds, from the export records: the rules the export, the retention and the
warehouse share.

A day is *complete* when its last export ran at least `late` after the day ended: a fact's transaction
commits within `late` of its occurred_at, so no fact of that day can reach the database after that export.
A day exported earlier (today, say) is *partial*: facts that occurred up to `late` before its `through`, and
every one after, may still be missing from its file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from application.analytics.ports import ExportRecord

ONE_DAY = timedelta(days=1)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def is_complete(record: ExportRecord | None, late: timedelta) -> bool:
    return record is not None and record.exported_at >= day_start(record.day) + ONE_DAY + late


def tail_start(oldest_fact: datetime | None, records: Sequence[ExportRecord], late: timedelta) -> datetime | None:
    """The earliest occurred_at from which the database may hold facts the archive lacks: every fact that
    occurred before it is in the archive. `oldest_fact` is the database's oldest (None: it has none, and
    the tail is empty); `records` are the export records from that fact's day on, oldest first. None when
    no fact of the database is surely archived (read the whole database)."""
    if oldest_fact is None:
        return None
    by_day = {record.day: record for record in records}
    day = day_of(oldest_fact)
    while True:
        record = by_day.get(day)
        if record is None:
            # Never exported: the tail starts with the day (the oldest fact's own day: the whole database).
            return None if day == day_of(oldest_fact) else day_start(day)
        if not is_complete(record, late):
            start = day_start(day)
            if record.through is not None:
                start = max(start, record.through - late)
            return None if start <= oldest_fact else start
        day += ONE_DAY


def archived_before(oldest_fact: datetime | None, records: Sequence[ExportRecord], late: timedelta) -> date | None:
    """The first day, from the first exported one, that may not be completely archived: every day before it
    has all its facts in the archive for good (it was completely exported, or it never had a fact: a day
    without a record before the database's oldest fact was never written, nor purged). None when nothing was
    ever exported. `records` are every export record."""
    if not records:
        return None
    by_day = {record.day: record for record in records}
    oldest_day = day_of(oldest_fact) if oldest_fact is not None else None
    day, last = min(by_day), max(by_day)
    while day <= last:
        record = by_day.get(day)
        if record is None and oldest_day is not None and day >= oldest_day:
            return day
        if record is not None and not is_complete(record, late):
            return day
        day += ONE_DAY
    return day
