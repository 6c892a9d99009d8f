"""The fact store read a page at a time: what the export and the warehouse's tail read the database's facts
with, so that a day (or a tail) of any size costs the memory of one page, never of all its facts.

Each page is its own short unit of work (no transaction stays open while the page is written elsewhere), and
the next page starts after the last position of the one before (keyset paging over (occurred_at, id)): a
fact is read once, and one committed meanwhile behind the position is the late-commit lag's to catch (the
export's `late`, the tail's lag).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from application.analytics.ports import AnalyticsUnitOfWork, FactPosition
from application.shared.facts import Fact

PAGE_SIZE = 5_000
"""Facts a page: some 10 MB of Python objects, and a few milliseconds of DuckDB insert."""


async def fact_pages(
    uow_factory: Callable[[], AnalyticsUnitOfWork],
    start: datetime | None,
    end: datetime | None,
    *,
    size: int = PAGE_SIZE,
) -> AsyncIterator[Sequence[Fact]]:
    """The facts with start <= occurred_at < end, oldest first, `size` at a time (no empty page)."""
    after: FactPosition | None = None
    while True:
        async with uow_factory() as uow:
            page = await uow.facts.between(start, end, size, after=after)
        if page:
            yield page
        if len(page) < size:
            return
        after = (page[-1].occurred_at, page[-1].id)
