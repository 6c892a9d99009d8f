"""What an analytics question is asked over: a range of whole UTC days (both ends included) and, for a
series, the interval of its buckets. Parsed from the query string here, so every entry point refuses the same
bad input the same way (InvalidInput naming `from`, `to` or `interval`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from domain.shared.errors import InvalidInput

DEFAULT_DAYS = 30
"""No `from`: the range is the 30 days ending with `to` (today, UTC, when `to` is not given either)."""
MAX_DAYS = 731
"""The longest range, in days (two years, a leap day included); a longer one is refused (422 naming `from`)."""

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class Interval(StrEnum):
    """A series' bucket: a UTC day, an ISO week (Monday to Sunday) or a calendar month."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    @classmethod
    def parse(cls, value: str | None) -> Interval:
        if value is None or value == "":
            return cls.DAY
        try:
            return cls(value)
        except ValueError:
            raise InvalidInput("interval", "Use day, week or month.") from None


def _parse_date(name: str, value: str | None) -> date | None:
    if value is None or value == "":
        return None
    if not _DATE.match(value):
        raise InvalidInput(name, "Use a date as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, "Use a date as YYYY-MM-DD.") from None


@dataclass(frozen=True, slots=True)
class DateRange:
    """Whole UTC days from `first` to `last`, both included."""

    first: date
    last: date

    @classmethod
    def parse(cls, start: str | None, end: str | None, today: date) -> DateRange:
        first, last = _parse_date("from", start), _parse_date("to", end)
        last = last or today
        if first is None:
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise InvalidInput("from", "`from` must be on or before `to`.")
        if (last - first).days + 1 > MAX_DAYS:
            raise InvalidInput("from", f"The range is longer than {MAX_DAYS} days.")
        return cls(first, last)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """The first instant included (midnight UTC of `first`)."""
        return datetime.combine(self.first, time(), UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range (midnight UTC after `last`)."""
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)
