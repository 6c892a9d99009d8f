"""The parameters every analytics route takes, and the cache in front of the queries."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from adapters.analytics.duckdb_queries import DuckDbAnalyticsQueries
from adapters.memory.cache import InMemoryCache
from adapters.memory.clock import FrozenClock
from application.analytics.range import DateRange, Interval
from application.analytics.reports import AnalyticsReports
from application.shared.facts import FactKind
from domain.shared.errors import InvalidInput
from tests.unit.analytics.conftest import HandMadeFacts, at, fact

TODAY = date(2026, 3, 15)


def test_the_default_range_is_the_30_days_ending_today_and_the_default_interval_a_day() -> None:
    assert DateRange.parse(None, None, TODAY) == DateRange(date(2026, 2, 14), TODAY)
    assert DateRange.parse(None, "2026-01-30", TODAY) == DateRange(date(2026, 1, 1), date(2026, 1, 30))
    assert DateRange.parse("2026-03-01", None, TODAY) == DateRange(date(2026, 3, 1), TODAY)
    assert Interval.parse(None) is Interval.DAY


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-02-30", None, "from"),
        ("15/03/2026", None, "from"),
        (None, "2026-W11", "to"),
        ("2026-03-02", "2026-03-01", "from"),
        ("2024-03-14", "2026-03-15", "from"),  # 732 days
    ],
)
def test_a_bad_range_names_its_field(start: str | None, end: str | None, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        DateRange.parse(start, end, TODAY)
    assert refused.value.field == field


def test_two_years_is_the_longest_range_and_a_bad_interval_is_refused() -> None:
    assert DateRange.parse("2024-03-15", "2026-03-15", TODAY).days == 731
    with pytest.raises(InvalidInput) as refused:
        Interval.parse("hour")
    assert refused.value.field == "interval"


async def test_the_same_question_is_answered_from_the_cache_another_is_asked_afresh() -> None:
    views = HandMadeFacts([fact(FactKind.USER_SIGNED_UP, at(3, 1), 1)])
    reports = AnalyticsReports(
        DuckDbAnalyticsQueries(views), InMemoryCache(), FrozenClock(datetime(2026, 3, 15, tzinfo=UTC))
    )
    ask = reports.ask("2026-03-01", "2026-03-15", "week", series=True)

    first = await reports.user_growth(ask)
    views.facts.append(fact(FactKind.USER_SIGNED_UP, at(3, 2), 2))
    cached = await reports.user_growth(ask)
    fresh = await reports.user_growth(reports.ask("2026-03-01", "2026-03-15", "day", series=True))

    assert cached == first and [p.total for p in cached.value] == [1, 1, 1]
    assert cached.as_of == at(3, 1)
    assert fresh.value[-1].total == 2
