"""Which facts the archive surely holds, from the export records: a day exported at least the late lag after
it ended is complete; the tail starts at the first day that is not (at its `through` minus the lag), or at a
day never exported; with nothing exported the whole database is the tail."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from application.analytics.coverage import day_start, is_complete, tail_start
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
