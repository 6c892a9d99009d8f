"""AnalyticsQueries in DuckDB SQL over FactViews: each question is one SQL statement over the kinds'
relations (Parquet, the database's tail or a test's facts alike) and the relations derived from them
(derived.py: per-day message sums, latency histograms, active-day gaps, retention cells, MRR's days; rolled up
by the export where it has run, else computed from the facts), its values bound as parameters, never formatted
in.
Everything is computed in SQL; Python only turns the few result rows into answers.

The range is [lo, hi): midnight UTC of `from` to midnight UTC after `to`. A series has one row per bucket
of `unit` (day, week, month) from the bucket holding `from` to the one holding `to`, each bucket clipped to the
range (`b_lo`, `b_hi`), so the first and last buckets of a week or month series may be partial. The
definitions are in docs/analytics.md ("Definitions")."""

# ruff: noqa: S608 (the statements are put together from this module's constant fragments at import; every
# value is a bound parameter)

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from adapters.analytics.schema import FactViews
from application.analytics.answers import (
    ActivePoint,
    Answered,
    Cohort,
    CohortWeek,
    GrowthPoint,
    MarginPoint,
    MessagePoint,
    MrrPoint,
    PlanMargin,
    ProviderCount,
    ProviderPerformance,
    ProviderPoint,
    ProviderUsage,
    RevenuePoint,
    UserCount,
)
from application.analytics.range import DateRange, Interval

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")
Rows = list[tuple[Any, ...]]

# Every relation has `date`, the UTC day of occurred_at (the hive partition over Parquet): filtering on it
# prunes the files of other days, and bucketing by it costs no time-zone work per row (date_trunc on a
# TIMESTAMPTZ does). The occurred_at bounds stay beside it (cheap: row-group statistics).
_IN_RANGE = "date >= $first AND date < $after AND occurred_at >= $lo AND occurred_at < $hi"
_BEFORE_HI = "date < $after AND occurred_at < $hi"
_BUCKET = "date_trunc($unit, date)::DATE"
_BUCKETS = """
buckets AS (
    SELECT g::DATE AS start,
           greatest(g::DATE, $first) AS d_lo,
           least((g + CAST('1 ' || $unit AS INTERVAL))::DATE, $after) AS d_hi,
           greatest(g::DATE, $first)::TIMESTAMPTZ AS b_lo,
           least((g + CAST('1 ' || $unit AS INTERVAL))::DATE, $after)::TIMESTAMPTZ AS b_hi,
           least(b_lo, b_hi - INTERVAL 30 DAY) AS b_early
    FROM generate_series(date_trunc($unit, $first), $last, CAST('1 ' || $unit AS INTERVAL)) AS t(g)
)"""
_HALF_UP_CENTS = "(({micros} + 5000) // 10000)"  # micro-dollars to cents, to the nearest, half up

USER_COUNT = f"""
SELECT
    (SELECT count(DISTINCT user_id) FROM user_signed_up WHERE {_BEFORE_HI}),
    (SELECT count(DISTINCT user_id) FROM user_signed_up WHERE {_IN_RANGE}),
    (SELECT count(DISTINCT user_id) FROM user_verified WHERE {_BEFORE_HI})
"""

USER_GROWTH = f"""
WITH {_BUCKETS},
signups AS (SELECT {_BUCKET} AS start, count(*) AS n FROM user_signed_up WHERE {_IN_RANGE} GROUP BY 1),
earlier AS (SELECT count(*) AS n FROM user_signed_up WHERE date < $first AND occurred_at < $lo)
SELECT b.start, coalesce(s.n, 0),
       (SELECT n FROM earlier) + sum(coalesce(s.n, 0)) OVER (ORDER BY b.start)
FROM buckets b LEFT JOIN signups s USING (start)
ORDER BY b.start
"""

# A user counts for the day-points p with an active day in (p - width, p]. Each distinct (user, day) d, with
# the user's next active day n, covers the points [d, min(n, d + width)): the latest active day up to p is d
# for p < n, and it is in the window for p < d + width. `active_gaps` (derived.py) gives the (user, day) rows
# folded into (day, gap to the next, capped at 31: no width or bucket is longer) counts, a few thousand rows,
# whose +1 at d and -1 at d + least(gap, width), summed up to a bucket's last day, are dau/wau/mau. A user is
# active in a bucket once: on their last active day in it (d + gap >= its end).
ACTIVE_USERS = f"""
WITH {_BUCKETS},
gaps AS (SELECT day, gap, sum(n) AS n FROM active_gaps($first - 29, $after) GROUP BY ALL),
widths(width) AS (VALUES (1), (7), (30)),
steps AS (
    SELECT width, day, sum(step) AS step FROM (
        SELECT w.width, g.day, g.n AS step FROM gaps g, widths w
        UNION ALL SELECT w.width, g.day + least(g.gap, w.width), -g.n FROM gaps g, widths w
    ) GROUP BY ALL
),
running AS (SELECT width, day, sum(step) OVER (PARTITION BY width ORDER BY day) AS n FROM steps),
points AS (SELECT start, (d_hi - 1) AS last_day, width FROM buckets, widths),
windows AS (
    SELECT p.start, p.width, coalesce(r.n, 0) AS n
    FROM points p ASOF LEFT JOIN running r ON p.width = r.width AND r.day <= p.last_day
),
actives AS (
    SELECT b.start, sum(g.n) AS n FROM buckets b
    JOIN gaps g ON g.day >= b.d_lo AND g.day < b.d_hi AND g.day + g.gap >= b.d_hi
    GROUP BY b.start
)
SELECT b.start, coalesce(a.n, 0),
       (SELECT n FROM windows w WHERE w.start = b.start AND w.width = 1),
       (SELECT n FROM windows w WHERE w.start = b.start AND w.width = 7),
       (SELECT n FROM windows w WHERE w.start = b.start AND w.width = 30)
FROM buckets b LEFT JOIN actives a USING (start)
ORDER BY b.start
"""

RETENTION = f"""
WITH cohorts AS (
    SELECT user_id, min(date_trunc('week', date)::DATE) AS cohort FROM user_signed_up
    WHERE {_IN_RANGE} AND user_id IS NOT NULL GROUP BY user_id
),
sizes AS (SELECT cohort, count(*) AS size FROM cohorts GROUP BY cohort),
hits AS (
    SELECT date_trunc('week', signup)::DATE AS cohort, week, sum(users) AS active
    FROM retention_cells($first, $after) GROUP BY ALL
),
grid AS (
    SELECT s.cohort, s.size, g::DATE AS week
    FROM sizes s, generate_series(s.cohort::TIMESTAMP, date_trunc('week', $last)::TIMESTAMP, INTERVAL 7 DAY) AS t(g)
)
SELECT g.cohort, g.size,
       list({{'week': (g.week - g.cohort) // 7, 'active': coalesce(h.active, 0)}} ORDER BY g.week)
FROM grid g LEFT JOIN hits h USING (cohort, week)
GROUP BY g.cohort, g.size
ORDER BY g.cohort
"""

_STATS_IN_RANGE = "date >= $first AND date < $after"  # message_stats has whole days only

MESSAGES = f"""
WITH {_BUCKETS},
m AS (
    SELECT {_BUCKET} AS start, sum(messages) AS messages, sum(prompt) AS prompt, sum(completion) AS completion,
           sum(messages) FILTER (WHERE cached) AS cached, sum(messages) FILTER (WHERE failed) AS errors
    FROM message_stats WHERE {_STATS_IN_RANGE} GROUP BY 1
),
gaps AS (SELECT day, gap, sum(n) AS n FROM active_gaps($first, $after) GROUP BY ALL),
u AS (
    SELECT b.start, sum(g.n) AS users FROM buckets b
    JOIN gaps g ON g.day >= b.d_lo AND g.day < b.d_hi AND g.day + g.gap >= b.d_hi
    GROUP BY b.start
)
SELECT b.start, coalesce(messages, 0), coalesce(users, 0), coalesce(prompt, 0), coalesce(completion, 0),
       coalesce(cached, 0), coalesce(errors, 0)
FROM buckets b LEFT JOIN m USING (start) LEFT JOIN u USING (start)
ORDER BY b.start
"""

MESSAGES_BY_PROVIDER = f"""
WITH {_BUCKETS},
m AS (
    SELECT {_BUCKET} AS start, coalesce(provider, 'unknown') AS provider, sum(messages) AS messages,
           coalesce(sum(messages) FILTER (WHERE cached), 0) AS cached, sum(prompt + completion) AS tokens
    FROM message_stats WHERE {_STATS_IN_RANGE} GROUP BY 1, 2
),
names AS (SELECT DISTINCT provider FROM m),
grid AS (SELECT b.start, n.provider FROM buckets b LEFT JOIN names n ON true)
SELECT g.start,
       coalesce(list({{'provider': g.provider, 'messages': coalesce(m.messages, 0),
                      'cached': coalesce(m.cached, 0), 'tokens': coalesce(m.tokens, 0)}}
                     ORDER BY g.provider) FILTER (WHERE g.provider IS NOT NULL), [])
FROM grid g LEFT JOIN m USING (start, provider)
GROUP BY g.start
ORDER BY g.start
"""

_PAYMENTS = """
    SELECT date, occurred_at, amount_cents, plan, 'succeeded' AS kind FROM payment_succeeded
    UNION ALL SELECT date, occurred_at, amount_cents, plan, 'refunded' FROM payment_refunded
    UNION ALL SELECT date, occurred_at, amount_cents, plan, 'failed' FROM payment_failed
"""

REVENUE = f"""
WITH {_BUCKETS},
p AS (
    SELECT {_BUCKET} AS start,
           sum(amount_cents) FILTER (WHERE kind = 'succeeded') AS succeeded,
           sum(amount_cents) FILTER (WHERE kind = 'refunded') AS refunded,
           count(*) FILTER (WHERE kind = 'succeeded') AS payments,
           count(*) FILTER (WHERE kind = 'refunded') AS refunds,
           count(*) FILTER (WHERE kind = 'failed') AS failed
    FROM ({_PAYMENTS}) WHERE {_IN_RANGE} GROUP BY 1
)
SELECT b.start, coalesce(succeeded, 0), coalesce(refunded, 0), coalesce(succeeded, 0) - coalesce(refunded, 0),
       coalesce(payments, 0), coalesce(refunds, 0), coalesce(failed, 0)
FROM buckets b LEFT JOIN p USING (start)
ORDER BY b.start
"""

# A subscription's state at an instant t is its latest fact before t. It pays at t when that state is
# active or past due (a fact without a status: anything but a cancel) at a price above zero; its MRR is that
# state's monthly price. So a paid state counts for the instants t in (valid_from, valid_to]. At each bucket's
# start (S), end (E) and 30 days before its end (M): who pays and what; churned = paying at S and not at E;
# LTV's monthly churn = paying at M and not at E.
# Every such instant is a midnight, so `mrr_days` (derived.py: rolled up before the frontier, raw after it)
# gives the states and islands (a user's paid states merged into the stretches they pay without a break) as
# days: MRR and paying users at midnight D are the running sums of the steps of the days before D (the
# instants go into the same ordered window as the steps, each before the steps of its own day), and a user
# paying at S and not at E is an island holding S that ends before E, with the user's next island (if any)
# starting at E or later: only the islands ending between S (or M) and E are joined with the buckets (those
# that end inside the range at all, a few percent of them, are picked first).
MRR = f"""
WITH {_BUCKETS},
facts AS MATERIALIZED (SELECT * FROM mrr_days($after, $hi)),
steps AS (SELECT day, sum(cents) AS cents, sum(users) AS users FROM facts WHERE kind = 'step' GROUP BY day),
instants AS (
    SELECT DISTINCT t FROM (
        SELECT d_lo AS t FROM buckets UNION ALL SELECT d_hi FROM buckets UNION ALL SELECT d_hi - 30 FROM buckets
    )
),
totals AS (
    SELECT day AS t, mrr, users FROM (
        SELECT day, instant, sum(cents) OVER running AS mrr, sum(users) OVER running AS users FROM (
            SELECT day, cents, users, false AS instant FROM steps
            UNION ALL SELECT t, 0, 0, true FROM instants
        )
        WINDOW running AS (ORDER BY day, instant DESC ROWS UNBOUNDED PRECEDING)
    ) WHERE instant
),
ending AS (
    SELECT day AS to_day, from_day, next_day, n FROM facts
    WHERE kind = 'island' AND day >= (SELECT min(least(d_lo, d_hi - 30)) FROM buckets)
      AND day < (SELECT max(d_hi) FROM buckets)
),
lost AS (
    SELECT b.start,
           sum(i.n) FILTER (WHERE i.from_day < b.d_lo AND i.to_day >= b.d_lo) AS churned,
           sum(i.n) FILTER (WHERE i.from_day < b.d_hi - 30 AND i.to_day >= b.d_hi - 30) AS churned_30
    FROM buckets b
    JOIN ending i ON i.to_day >= least(b.d_lo, b.d_hi - 30) AND i.to_day < b.d_hi
        AND (i.next_day IS NULL OR i.next_day >= b.d_hi)
    GROUP BY b.start
)
SELECT b.start, coalesce(e.mrr, 0), coalesce(e.users, 0), coalesce(s.users, 0), coalesce(l.churned, 0),
       coalesce(m.users, 0), coalesce(l.churned_30, 0)
FROM buckets b
LEFT JOIN totals e ON e.t = b.d_hi
LEFT JOIN totals s ON s.t = b.d_lo
LEFT JOIN totals m ON m.t = b.d_hi - 30
LEFT JOIN lost l USING (start)
ORDER BY b.start
"""

MARGIN = f"""
WITH {_BUCKETS},
revenue AS (
    SELECT {_BUCKET} AS start, coalesce(plan, 'unknown') AS plan,
           sum(CASE kind WHEN 'succeeded' THEN amount_cents WHEN 'refunded' THEN -amount_cents ELSE 0 END) AS cents
    FROM ({_PAYMENTS}) WHERE {_IN_RANGE} AND kind <> 'failed' GROUP BY 1, 2
),
cost AS (
    SELECT {_BUCKET} AS start, coalesce(plan, 'unknown') AS plan, sum(cost_micros) AS micros
    FROM message_stats WHERE {_STATS_IN_RANGE} GROUP BY 1, 2
),
plans AS (SELECT plan FROM revenue UNION SELECT plan FROM cost),
grid AS (SELECT b.start, p.plan FROM buckets b LEFT JOIN plans p ON true),
cells AS (
    SELECT g.start, g.plan, coalesce(r.cents, 0) AS revenue,
           {_HALF_UP_CENTS.format(micros="coalesce(c.micros, 0)")} AS cost
    FROM grid g LEFT JOIN revenue r USING (start, plan) LEFT JOIN cost c USING (start, plan)
)
SELECT start, coalesce(sum(revenue) FILTER (WHERE plan IS NOT NULL), 0),
       coalesce(sum(cost) FILTER (WHERE plan IS NOT NULL), 0),
       coalesce(list({{'plan': plan, 'revenue_cents': revenue, 'cost_cents': cost}} ORDER BY plan)
                FILTER (WHERE plan IS NOT NULL), [])
FROM cells
GROUP BY start
ORDER BY start
"""

PROVIDER_USAGE = f"""
SELECT coalesce(provider, 'unknown'), coalesce(model, 'unknown'), sum(messages), sum(prompt), sum(completion),
       sum(cost_micros), {_HALF_UP_CENTS.format(micros="sum(cost_micros)")}
FROM message_stats
WHERE {_STATS_IN_RANGE} AND NOT coalesce(cached, false)
GROUP BY 1, 2
ORDER BY 1, 2
"""

# quantile_cont over a histogram of (value, n), exactly as DuckDB computes it over the values: with N values,
# rn = (N - 1) * q; the values at the 0-based ranks floor(rn) and ceil(rn) (the smallest value whose running
# count passes the rank), lo + (hi - lo) * (rn - floor(rn)) between them. Exact for integer milliseconds.
PROVIDER_PERFORMANCE = f"""
WITH s AS (
    SELECT coalesce(provider, 'unknown') AS provider, coalesce(model, 'unknown') AS model, sum(messages) AS requests,
           coalesce(sum(messages) FILTER (WHERE failed), 0) AS errors, sum(failovers) AS failovers,
           sum(gen_completion) AS tokens, sum(gen_ms) AS generating_ms
    FROM message_stats WHERE {_STATS_IN_RANGE} AND NOT coalesce(cached, false) GROUP BY 1, 2
),
hist AS (
    SELECT coalesce(provider, 'unknown') AS provider, coalesce(model, 'unknown') AS model, metric, value, sum(n) AS n
    FROM latency_values($first, $after) GROUP BY ALL
),
ranked AS (
    SELECT provider, model, metric, value,
           sum(n) OVER (PARTITION BY provider, model, metric ORDER BY value) AS upto,
           sum(n) OVER (PARTITION BY provider, model, metric) AS total
    FROM hist
),
qs(q) AS (VALUES (0.5::DOUBLE), (0.95::DOUBLE)),
picks AS (
    SELECT provider, model, metric, q, (total - 1)::DOUBLE * q AS rn,
           min(value) FILTER (WHERE upto > floor((total - 1)::DOUBLE * q)) AS lo,
           min(value) FILTER (WHERE upto > ceil((total - 1)::DOUBLE * q)) AS hi
    FROM ranked, qs GROUP BY provider, model, metric, q, total
),
quantiles AS (
    SELECT provider, model, metric, q,
           CASE WHEN floor(rn) = ceil(rn) THEN lo::DOUBLE
                ELSE lo::DOUBLE + (hi::DOUBLE - lo::DOUBLE) * (rn - floor(rn)) END AS v
    FROM picks
),
q AS (
    SELECT provider, model,
           max(v) FILTER (WHERE metric = 'latency' AND q = 0.5) AS p50,
           max(v) FILTER (WHERE metric = 'latency' AND q = 0.95) AS p95,
           max(v) FILTER (WHERE metric = 'ttft' AND q = 0.5) AS t50,
           max(v) FILTER (WHERE metric = 'ttft' AND q = 0.95) AS t95
    FROM quantiles GROUP BY provider, model
)
SELECT s.provider, s.model, s.requests, q.p50, q.p95, q.t50, q.t95, s.errors, s.failovers, s.tokens, s.generating_ms
FROM s LEFT JOIN q USING (provider, model)
ORDER BY 1, 2
"""


def _params(span: DateRange, interval: Interval | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"lo": span.start, "hi": span.end, "first": span.first, "after": span.end.date()}
    if interval is not None:
        values.update(last=span.last, unit=interval.value)
    return values


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters the statement names (DuckDB refuses unused named parameters)."""
    return {name: value for name, value in params.items() if f"${name}" in sql}


def _fetch(connection: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> Rows:
    return connection.execute(sql, _used(sql, params)).fetchall()


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _divide_half_up(amount: int, count: int) -> int:
    return (2 * amount + count) // (2 * count) if count else 0


class DuckDbAnalyticsQueries:
    def __init__(self, views: FactViews) -> None:
        self._views = views

    async def _run(self, build: Callable[[duckdb.DuckDBPyConnection], T]) -> Answered[T]:
        value, as_of = await self._views.run(build)
        return Answered(value, as_of)

    async def user_count(self, span: DateRange) -> Answered[UserCount]:
        def query(connection: duckdb.DuckDBPyConnection) -> UserCount:
            [(total, new, verified)] = _fetch(connection, USER_COUNT, _params(span))
            return UserCount(total=total, new=new, verified=verified)

        return await self._run(query)

    async def user_growth(self, span: DateRange, interval: Interval) -> Answered[list[GrowthPoint]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[GrowthPoint]:
            rows = _fetch(connection, USER_GROWTH, _params(span, interval))
            return [GrowthPoint(start, int(signups), int(total)) for start, signups, total in rows]

        return await self._run(query)

    async def active_users(self, span: DateRange, interval: Interval) -> Answered[list[ActivePoint]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[ActivePoint]:
            rows = _fetch(connection, ACTIVE_USERS, _params(span, interval))
            return [ActivePoint(start, *(int(n) for n in counts)) for start, *counts in rows]

        return await self._run(query)

    async def retention(self, span: DateRange) -> Answered[list[Cohort]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[Cohort]:
            params = {**_params(span), "last": span.last}
            return [
                Cohort(
                    start,
                    size,
                    [CohortWeek(week["week"], week["active"], _ratio(week["active"], size)) for week in weeks],
                )
                for start, size, weeks in _fetch(connection, RETENTION, params)
            ]

        return await self._run(query)

    async def messages(self, span: DateRange, interval: Interval) -> Answered[list[MessagePoint]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[MessagePoint]:
            rows = _fetch(connection, MESSAGES, _params(span, interval))
            return [MessagePoint(start, *(int(n) for n in counts)) for start, *counts in rows]

        return await self._run(query)

    async def messages_by_provider(self, span: DateRange, interval: Interval) -> Answered[list[ProviderPoint]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[ProviderPoint]:
            rows = _fetch(connection, MESSAGES_BY_PROVIDER, _params(span, interval))
            return [
                ProviderPoint(
                    start,
                    [
                        ProviderCount(item["provider"], item["messages"], item["cached"], int(item["tokens"]))
                        for item in providers
                    ],
                )
                for start, providers in rows
            ]

        return await self._run(query)

    async def revenue(self, span: DateRange, interval: Interval) -> Answered[list[RevenuePoint]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[RevenuePoint]:
            rows = _fetch(connection, REVENUE, _params(span, interval))
            return [RevenuePoint(start, *(int(n) for n in values)) for start, *values in rows]

        return await self._run(query)

    async def mrr(self, span: DateRange, interval: Interval) -> Answered[list[MrrPoint]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[MrrPoint]:
            points = []
            for start, mrr, paying, paying_at_start, churned, paying_30, churned_30 in _fetch(
                connection, MRR, _params(span, interval)
            ):
                arpu = _divide_half_up(int(mrr), int(paying))
                monthly_churn = _ratio(churned_30, paying_30)
                ltv = round(arpu / monthly_churn) if monthly_churn else None
                points.append(
                    MrrPoint(start, int(mrr), int(paying), arpu, int(churned), _ratio(churned, paying_at_start), ltv)
                )
            return points

        return await self._run(query)

    async def margin(self, span: DateRange, interval: Interval) -> Answered[list[MarginPoint]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[MarginPoint]:
            return [
                MarginPoint(
                    start,
                    int(revenue),
                    int(cost),
                    int(revenue) - int(cost),
                    [
                        PlanMargin(
                            plan["plan"],
                            int(plan["revenue_cents"]),
                            int(plan["cost_cents"]),
                            int(plan["revenue_cents"]) - int(plan["cost_cents"]),
                        )
                        for plan in plans
                    ],
                )
                for start, revenue, cost, plans in _fetch(connection, MARGIN, _params(span, interval))
            ]

        return await self._run(query)

    async def provider_usage(self, span: DateRange) -> Answered[list[ProviderUsage]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[ProviderUsage]:
            return [
                ProviderUsage(
                    provider,
                    model,
                    requests,
                    int(prompt),
                    int(completion),
                    int(prompt + completion),
                    int(micros),
                    int(cents),
                )
                for provider, model, requests, prompt, completion, micros, cents in _fetch(
                    connection, PROVIDER_USAGE, _params(span)
                )
            ]

        return await self._run(query)

    async def provider_performance(self, span: DateRange) -> Answered[list[ProviderPerformance]]:
        def query(connection: duckdb.DuckDBPyConnection) -> list[ProviderPerformance]:
            answers = []
            for provider, model, requests, p50, p95, t50, t95, errors, failovers, tokens, generating_ms in _fetch(
                connection, PROVIDER_PERFORMANCE, _params(span)
            ):
                rate = int(tokens) / (int(generating_ms) / 1000) if tokens and generating_ms else None
                answers.append(
                    ProviderPerformance(
                        provider,
                        model,
                        requests,
                        p50,
                        p95,
                        t50,
                        t95,
                        errors,
                        _ratio(errors, requests),
                        int(failovers),
                        rate,
                    )
                )
            return answers

        return await self._run(query)
