"""The derived relations the analytics questions read besides the kinds' own: the per-day message figures, the
latency histograms, the users' active-day gaps and the retention cells. Each is defined twice over, and both
definitions give the same rows for the same facts:

- raw (`Rollups` None): computed from the kinds' relations at query time (the in-memory test setup, the
  database's facts, a warehouse whose export has written no rollup yet);
- rolled up: the rollups the export wrote (rollups.py) for the days before `before`, UNION ALL the same
  computation over the kinds' relations from `before` on (the days not yet rolled up: Parquet of days not
  complete, and the database's tail), so each fact counts once.

`message_stats` is a view (a filter on `date` reaches the Parquet scan below the GROUP BY); the others are
table macros taking the range's day bounds, because their rows depend on rows before or after a day (a
user's next active day, a cohort's signups) and the bounds must apply before that computation, not after.

The definitions are in docs/analytics.md ("Definitions"); how the rollups keep every answer exact is in its
"Performance" section."""

# ruff: noqa: S608 (the statements are put together from this module's constants, the archive's paths and
# dates it formats itself; every value of a question is a bound parameter)

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

FAILED = "(error IS NOT NULL OR coalesce(finish_reason, '') = 'error')"
GENERATED = f"NOT {FAILED} AND ttft_ms IS NOT NULL AND latency_ms > ttft_ms AND completion_tokens > 0"
GAP_CAP = 31
"""A user-day's gap to the user's next active day is capped here: no bucket or window is longer."""

MESSAGE_STATS_COLUMNS = """
    count(*)::BIGINT AS messages,
    sum(coalesce(prompt_tokens, 0))::BIGINT AS prompt,
    sum(coalesce(completion_tokens, 0))::BIGINT AS completion,
    sum(coalesce(cost_micros, 0))::BIGINT AS cost_micros,
    sum(coalesce(failovers, 0))::BIGINT AS failovers,
    sum(completion_tokens) FILTER (WHERE {generated})::BIGINT AS gen_completion,
    sum(latency_ms - ttft_ms) FILTER (WHERE {generated})::BIGINT AS gen_ms
"""


def message_stats_select(source: str, where: str) -> str:
    """Per (date, provider, model, plan, cached, failed): the sums every message question adds up."""
    return (
        f"SELECT date, provider, model, plan, cached, {FAILED} AS failed,"
        f"{MESSAGE_STATS_COLUMNS.format(generated=GENERATED)} FROM {source} WHERE {where} GROUP BY ALL"
    )


def latency_select(source: str, where: str, key: str | None = None) -> str:
    """Per (provider, model, metric, value): how many replies that did not fail (cached ones left out) took
    `value` ms (`metric` latency) or had their first token after `value` ms (ttft); `key` (a column, the
    day) kept in front when given."""
    served = f"{where} AND NOT {FAILED} AND NOT coalesce(cached, false)"
    keep = f"{key}, " if key else ""
    return (
        f"SELECT {keep}provider, model, 'latency' AS metric, latency_ms AS value, count(*)::BIGINT AS n "
        f"FROM {source} WHERE {served} AND latency_ms IS NOT NULL GROUP BY ALL UNION ALL "
        f"SELECT {keep}provider, model, 'ttft', ttft_ms, count(*)::BIGINT FROM {source} "
        f"WHERE {served} AND ttft_ms IS NOT NULL GROUP BY ALL"
    )


def user_days_select(source: str, where: str) -> str:
    return f"SELECT DISTINCT user_id, date AS day FROM {source} WHERE {where} AND user_id IS NOT NULL"


def gaps_select(user_days: str) -> str:
    """(day, gap, n) from (user_id, day) rows: each with the gap to the user's next row (capped)."""
    return (
        f"SELECT day, CAST(least(coalesce(next - day, {GAP_CAP}), {GAP_CAP}) AS INTEGER) AS gap, count(*)::BIGINT AS n "
        f"FROM (SELECT day, lead(day) OVER (PARTITION BY user_id ORDER BY day) AS next FROM ({user_days})) "
        "GROUP BY ALL"
    )


def _literal(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _parquet(glob: str) -> str:
    return f"read_parquet({_quote(glob)}, hive_partitioning = true)"


@dataclass(frozen=True)
class Rollups:
    """What the export rolled up, as the warehouse reads it: every rollup covers the days before `before`
    (the frontier), `present` names the rollups that have files, `globs` says where each one's files are, and
    `recent` is the frontier's file of the users' last active days (None: read those days raw)."""

    before: date
    present: frozenset[str]
    globs: dict[str, str]
    recent: str | None

    def source(self, name: str, where: str, columns: str = "*") -> str | None:
        if name not in self.present:
            return None
        return f"SELECT {columns} FROM {_parquet(self.globs[name])} WHERE {where}"


def _union(*parts: str | None) -> str:
    return " UNION ALL ".join(f"({part})" for part in parts if part is not None)


def derived_statements(rollups: Rollups | None) -> list[str]:
    """CREATE statements for the derived relations, over the kinds' relations already defined (views
    `message_replied`, `user_signed_up`, ...), with the rollups before their frontier when given."""
    before = _literal(rollups.before) if rollups is not None else None
    raw_from = f"date >= {before}" if before is not None else "true"

    stats_rolled = (
        rollups.source(
            "messages",
            f"date < {before}",
            "date, provider, model, plan, cached, failed, messages, prompt, completion, cost_micros, failovers, "
            "gen_completion, gen_ms",
        )
        if rollups is not None
        else None
    )
    message_stats = _union(stats_rolled, message_stats_select("message_replied", raw_from))

    in_range = "date >= lo AND date < hi"
    if rollups is None or before is None:
        latency = latency_select("message_replied", in_range)
    else:
        rolled_end = f"least(hi, {before})"
        month = "date_trunc('month', date)"
        whole_month = f"({month}::DATE >= lo AND ({month} + INTERVAL 1 MONTH)::DATE <= {rolled_end})"
        latency = _union(
            rollups.source(
                "latency_month",
                f"date >= lo AND (date + INTERVAL 1 MONTH)::DATE <= {rolled_end}",
                "provider, model, metric, value, n",
            ),
            rollups.source(
                "latency_day",
                f"date >= lo AND date < {rolled_end} AND NOT {whole_month}",
                "provider, model, metric, value, n",
            ),
            latency_select("message_replied", f"{in_range} AND date >= {before}"),
        )

    gaps = _gaps(rollups)
    retention = _retention(rollups)
    return [
        f"CREATE OR REPLACE VIEW message_stats AS {message_stats}",
        f"CREATE OR REPLACE MACRO latency_values(lo, hi) AS TABLE {latency}",
        f"CREATE OR REPLACE MACRO active_gaps(lo, hi) AS TABLE {gaps}",
        f"CREATE OR REPLACE MACRO retention_cells(first, after) AS TABLE {retention}",
    ]


def _gaps(rollups: Rollups | None) -> str:
    """(day, gap, n) for the user-days in [lo, hi): n users were active on `day` and next active `gap` days
    later (capped; a next day at `hi` or later may count as none: no point or bucket of the range tells the
    two apart). Rolled up: the days before the frontier minus GAP_CAP have final gaps (their next day is
    rolled up too); the rolled days after have final gaps for the users active again before the frontier,
    and each user's last rolled day comes in `recent` as a (user, day) row whose gap is reckoned here,
    against the raw days from the frontier on."""
    in_range = "date >= lo AND date < hi"
    if rollups is None:
        return gaps_select(user_days_select("message_replied", in_range))
    final_before = _literal(date.fromordinal(rollups.before.toordinal() - GAP_CAP))
    final = rollups.source("active_gaps", f"{in_range} AND date < {final_before}", "date AS day, gap, n")
    if rollups.recent is None:
        return _union(final, gaps_select(user_days_select("message_replied", f"{in_range} AND date >= {final_before}")))
    recent = f"read_parquet({_quote(rollups.recent)})"
    pending = _union(
        f"SELECT user_id, day FROM {recent} WHERE gap IS NULL AND day >= lo AND day < hi",
        user_days_select("message_replied", f"{in_range} AND date >= {_literal(rollups.before)}"),
    )
    recent_final = f"SELECT day, gap, n FROM {recent} WHERE gap IS NOT NULL AND day >= lo AND day < hi"
    return _union(final, recent_final, gaps_select(pending))


def _retention(rollups: Rollups | None) -> str:
    """(signup, week, users): of the users whose first signup in [first, after) was on `signup`, how many
    sent a message in the ISO week starting `week` (from the week holding `first`, activity up to `after`).
    Rolled up: the cells of weeks wholly rolled up and wholly in the range (every week before the one holding
    the frontier and before the range's last week); the rest from the kinds' relations: the range's signups
    (a small kind) and the messages from the first week not rolled up, at most a week and the tail."""
    first_week = "date_trunc('week', first)::DATE"
    if rollups is None or "retention" not in rollups.present:
        raw_from = first_week
    else:
        raw_from = (
            f"greatest({first_week}, least(date_trunc('week', {_literal(rollups.before)})::DATE, "
            "date_trunc('week', after - 1)::DATE))"
        )
    raw = f"""
        WITH cohorts AS (
            SELECT user_id, min(date) AS signup FROM user_signed_up
            WHERE date >= first AND date < after AND user_id IS NOT NULL GROUP BY user_id
        ),
        activity AS (
            SELECT DISTINCT m.user_id, date_trunc('week', m.date)::DATE AS week
            FROM message_replied m SEMI JOIN cohorts c ON m.user_id = c.user_id
            WHERE m.date >= {raw_from} AND m.date < after
        )
        SELECT c.signup, a.week, count(*)::BIGINT AS users FROM cohorts c JOIN activity a ON a.user_id = c.user_id
        WHERE a.week >= date_trunc('week', c.signup)::DATE GROUP BY ALL
    """
    if rollups is None or "retention" not in rollups.present:
        return raw
    rolled = rollups.source(
        "retention",
        f"date >= {first_week} AND date < {raw_from} AND signup >= first AND signup < after",
        "signup, date AS week, users",
    )
    return _union(rolled, raw)
