"""Which facts the archive surely holds, from the export records: a day exported at least the late lag after
it ended is complete; the tail starts at the first day that is not (at its `through` minus the lag), or at a
day never exported; with nothing exported the whole database is the tail. The rollups reach the first day,
from the first exported, that is not complete."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from application.analytics.coverage import archived_before, day_start, is_complete, tail_start
from application.analytics.ports import ExportRecord

LATE = timedelta(minutes=5)
DAY1 = date(2026, 3, 1)
OLDEST = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def exported(day: date, at: datetime, through: datetime | None = None) -> ExportRecord:
    return ExportRecord(day=day, exported_at=at, through=through, facts=1)


def test_a_day_is_complete_once_exported_the_late_lag_after_it_ended() -> None:
    end = day_start(DAY1 + timedelta(days=1))

    assert not is_complete(exported(DAY1, end + LATE - timedelta(seconds=1)), LATE)
    assert is_complete(exported(DAY1, end + LATE), LATE)
    assert not is_complete(None, LATE)


def test_the_tail_starts_at_the_partial_days_through_minus_the_lag() -> None:
    through = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    records = [
        exported(DAY1, datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
        exported(DAY1 + timedelta(days=1), datetime(2026, 3, 2, 12, 0, tzinfo=UTC), through),
    ]

    assert tail_start(OLDEST, records, LATE) == through - LATE


def test_the_tail_starts_at_a_day_never_exported_and_is_everything_without_exports() -> None:
    records = [exported(DAY1, datetime(2026, 3, 3, 0, 10, tzinfo=UTC))]  # day 2 was never exported

    assert tail_start(OLDEST, records, LATE) == day_start(DAY1 + timedelta(days=1))
    assert tail_start(OLDEST, [], LATE) is None
    assert tail_start(None, records, LATE) is None


def test_the_rollups_reach_the_first_day_not_complete_skipping_days_that_never_had_a_fact() -> None:
    late_enough = datetime(2026, 3, 10, tzinfo=UTC)
    records = [
        exported(DAY1, late_enough),
        exported(DAY1 + timedelta(days=2), late_enough),  # day 2 has no record: it never had a fact
        exported(DAY1 + timedelta(days=3), datetime(2026, 3, 4, 12, 0, tzinfo=UTC)),  # partial
    ]
    oldest_in_database = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)

    assert archived_before(oldest_in_database, records, LATE) == DAY1 + timedelta(days=3)
    assert archived_before(oldest_in_database, records[:2], LATE) == DAY1 + timedelta(days=3)
    assert archived_before(None, records, LATE) == DAY1 + timedelta(days=3)
    assert archived_before(OLDEST, [], LATE) is None


def test_a_day_without_a_record_stops_the_rollups_once_the_database_holds_facts_of_it() -> None:
    late_enough = datetime(2026, 3, 10, tzinfo=UTC)
    records = [exported(DAY1, late_enough), exported(DAY1 + timedelta(days=2), late_enough)]
    oldest_in_database = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # day 2's facts, never exported

    assert archived_before(oldest_in_database, records, LATE) == DAY1 + timedelta(days=1)
