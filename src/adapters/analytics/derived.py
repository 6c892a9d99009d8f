"""The derived relations the analytics questions read besides the kinds' own: the per-day message figures, the
latency histograms, the users' active-day gaps, the retention cells and MRR's states and islands as days. Each
is defined twice over, and both
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
    mrr: dict[str, str] | None = None
    """The frontier's MRR files (`steps`, `islands`, `open`; see `mrr_rollup_selects`), None: reckon MRR raw."""

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
    mrr = _mrr(rollups)
    return [
        f"CREATE OR REPLACE VIEW message_stats AS {message_stats}",
        f"CREATE OR REPLACE MACRO latency_values(lo, hi) AS TABLE {latency}",
        f"CREATE OR REPLACE MACRO active_gaps(lo, hi) AS TABLE {gaps}",
        f"CREATE OR REPLACE MACRO retention_cells(first, after) AS TABLE {retention}",
        f"CREATE OR REPLACE MACRO mrr_days(after, hi) AS TABLE {mrr}",
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


# --- MRR ------------------------------------------------------------------------------------------------
# A subscription's state at an instant t is its latest change before t; a paid state (active or past due, a
# price above zero) counts for the instants in (valid_from, valid_to], valid_to its subscription's next change
# (NULL: none yet). A user's paid states merge into islands (the stretches they pay without a break). Every
# instant the MRR question reads is a midnight (a bucket's start, end, or end minus 30 days), so whatever
# happens at a moment counts from the next midnight on, and each state and island is kept as days only:
# `mrr_days(after, hi)` gives ('step', day, cents, users) rows, whose sums over the days before a midnight are
# the MRR and paying users then, and ('island', day = the island's last day, from_day, next_day, n) rows for
# the islands that end, `next_day` the day the user's next island starts (NULL: none).

SUBSCRIPTION_RELATIONS = (
    "subscription_started",
    "subscription_upgraded",
    "subscription_downgraded",
    "subscription_canceled",
    "subscription_renewed",
    "subscription_past_due",
)
PAID = "state IN ('active', 'past_due') AND coalesce(price_cents, 0) > 0"
_INFINITY = "'infinity'::TIMESTAMPTZ"


def day_of(column: str) -> str:
    """The UTC day of a TIMESTAMPTZ column, in integer arithmetic (NULL stays NULL)."""
    return f"CAST(DATE '1970-01-01' + CAST(epoch_us({column}) // 86400000000 AS INTEGER) AS DATE)"


def subscription_changes_select(scan: dict[str, str] | None, where: str) -> str:
    """Every subscription change (id, occurred_at, user_id, subscription_id, price_cents, state) of the
    relations (or of `scan`'s sources by relation name: the kinds that have files) under `where`; a change
    without a status is active, a cancel without one canceled."""
    parts = []
    for relation in SUBSCRIPTION_RELATIONS:
        default = "canceled" if relation == "subscription_canceled" else "active"
        if scan is not None and relation not in scan:
            continue
        source = scan[relation] if scan is not None else relation
        parts.append(
            f"SELECT id, occurred_at, user_id, subscription_id, price_cents, coalesce(status, '{default}') AS state "
            f"FROM {source} WHERE {where}"
        )
    return " UNION ALL ".join(parts)


def paid_states_select(changes: str) -> str:
    """(user_id, subscription_id, id, price_cents, valid_from, valid_to) of the paid states of `changes`
    (valid_to NULL: the subscription's last change)."""
    return (
        "SELECT user_id, subscription_id, id, price_cents, valid_from, valid_to FROM ("
        "SELECT user_id, subscription_id, id, price_cents, state, occurred_at AS valid_from, "
        "lead(occurred_at) OVER (PARTITION BY subscription_id ORDER BY occurred_at, id) AS valid_to "
        f"FROM ({changes})) WHERE {PAID}"
    )


def islands_select(paid: str) -> str:
    """(user_id, i_from, i_to, reach, next_from) from (user_id, valid_from, valid_to) rows (valid_to NULL:
    open-ended): each user's rows merged where they overlap or touch; i_to NULL when a row in it is
    open-ended, `reach` the latest valid_to that is known, next_from the start of the user's next island."""
    until = f"coalesce(valid_to, {_INFINITY})"
    return f"""
        SELECT user_id, i_from, i_to, reach,
               lead(i_from) OVER (PARTITION BY user_id ORDER BY i_from) AS next_from
        FROM (
            SELECT user_id, min(valid_from) AS i_from,
                   CASE WHEN bool_or(valid_to IS NULL) THEN NULL ELSE max(valid_to) END AS i_to,
                   max(valid_to) AS reach
            FROM (
                SELECT user_id, valid_from, valid_to,
                       sum(CASE WHEN reached IS NULL OR valid_from > reached THEN 1 ELSE 0 END)
                           OVER (PARTITION BY user_id ORDER BY valid_from, {until} ROWS UNBOUNDED PRECEDING) AS island
                FROM (
                    SELECT user_id, valid_from, valid_to,
                           max({until}) OVER (PARTITION BY user_id ORDER BY valid_from, {until}
                                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS reached
                    FROM ({paid})
                )
            )
            GROUP BY user_id, island
        )
    """


_STEP = (
    "SELECT 'step' AS kind, {day} AS day, {cents}::BIGINT AS cents, {users}::BIGINT AS users, "
    "NULL::DATE AS from_day, NULL::DATE AS next_day, NULL::BIGINT AS n FROM ({source}){where}"
)


def _steps(paid: str, islands: str, closed_only: bool = False) -> list[str]:
    """The step rows of paid states (+price from the day of valid_from, -price from the day of valid_to) and
    of islands (+1, -1). `closed_only`: only the states and islands whose end is known."""
    known_state, known_island = " WHERE valid_to IS NOT NULL", " WHERE i_to IS NOT NULL"
    return [
        _STEP.format(
            day=day_of("valid_from"), cents="price_cents", users="0", source=paid, where=known_state * closed_only
        ),
        _STEP.format(day=day_of("valid_to"), cents="-price_cents", users="0", source=paid, where=known_state),
        _STEP.format(day=day_of("i_from"), cents="0", users="1", source=islands, where=known_island * closed_only),
        _STEP.format(day=day_of("i_to"), cents="0", users="-1", source=islands, where=known_island),
    ]


def _ending(islands: str) -> str:
    """The island rows of the islands that end (their last day, first day, the next island's first day)."""
    return (
        f"SELECT 'island' AS kind, {day_of('i_to')} AS day, 0::BIGINT AS cents, 0::BIGINT AS users, "
        f"{day_of('i_from')} AS from_day, {day_of('next_from')} AS next_day, 1::BIGINT AS n "
        f"FROM ({islands}) WHERE i_to IS NOT NULL"
    )


def mrr_rollup_selects() -> dict[str, str]:
    """The frontier's MRR files, from every subscription change before `before` (each SELECT over the temp
    tables `mrr_paid` and `mrr_islands` that `mrr_rollup_tables` creates):

    - `steps` (day, cents, users): the summed steps of the paid states whose next change is known and of the
      islands that end before the frontier (final: nothing later changes them);
    - `islands` (day, from_day, next_day, user_id, n): those islands, counted by days; `user_id` is kept only
      for a user's last one when the user has no island open (next_day NULL: the next island, if any, starts
      from the frontier on, reckoned at query time);
    - `open` (part, user_id, subscription_id, id, price_cents, valid_from, valid_to): each subscription's last
      state when paid (`state`, closed at query time by the subscription's next change from the frontier on),
      and each user's open island (`island`: its start, and the latest end of its states already known)."""
    steps = " UNION ALL ".join(_steps("SELECT * FROM mrr_paid", "SELECT * FROM mrr_islands", closed_only=True))
    return {
        "steps": f"SELECT day, sum(cents)::BIGINT AS cents, sum(users)::BIGINT AS users FROM ({steps}) GROUP BY day",
        "islands": (
            f"SELECT {day_of('i_to')} AS day, {day_of('i_from')} AS from_day, {day_of('next_from')} AS next_day, "
            "CASE WHEN next_from IS NULL THEN user_id END AS user_id, count(*)::BIGINT AS n "
            "FROM mrr_islands WHERE i_to IS NOT NULL GROUP BY ALL"
        ),
        "open": (
            "SELECT 'state' AS part, user_id, subscription_id, id, price_cents, valid_from, "
            "NULL::TIMESTAMPTZ AS valid_to FROM mrr_paid WHERE valid_to IS NULL "
            "UNION ALL SELECT 'island', user_id, NULL, NULL, NULL, i_from, reach FROM mrr_islands WHERE i_to IS NULL"
        ),
    }


def mrr_rollup_tables(scan: dict[str, str], before: date) -> list[str]:
    """The temp tables `mrr_paid` and `mrr_islands` the rollup's SELECTs read: every paid state before
    `before` (the last of each subscription open-ended) and the users' islands of them."""
    changes = subscription_changes_select(scan, f"date < {_literal(before)}")
    islands = islands_select("SELECT user_id, valid_from, valid_to FROM mrr_paid")
    return [
        f"CREATE OR REPLACE TEMP TABLE mrr_paid AS {paid_states_select(changes)}",
        f"CREATE OR REPLACE TEMP TABLE mrr_islands AS {islands}",
    ]


def _mrr(rollups: Rollups | None) -> str:
    """mrr_days(after, hi): the step and island rows of every subscription change before `hi`. Rolled up: the
    frontier's final steps and islands, and the rest reckoned from its open states and islands and the raw
    changes from the frontier on. Only the changes before `hi` count in the raw reckoning; a rolled-up change
    at or after `hi` (a range before the frontier) only moves steps and islands at or after `hi`'s midnight,
    which no instant of the range reads."""
    before_hi = "date < after AND occurred_at < hi"
    if rollups is None or rollups.mrr is None:
        paid = paid_states_select(subscription_changes_select(None, before_hi))
        return f"""
            WITH paid AS MATERIALIZED ({paid}),
            islands AS MATERIALIZED ({islands_select("SELECT user_id, valid_from, valid_to FROM paid")})
            {" UNION ALL ".join(_steps("SELECT * FROM paid", "SELECT * FROM islands"))}
            UNION ALL {_ending("SELECT * FROM islands")}
        """
    files = {name: f"read_parquet({_quote(path)})" for name, path in rollups.mrr.items()}
    frontier = _literal(rollups.before)
    raw = subscription_changes_select(None, f"{before_hi} AND date >= {frontier}")
    opened = (
        f"SELECT id, valid_from AS occurred_at, user_id, subscription_id, price_cents, 'active' AS state "
        f"FROM {files['open']} WHERE part = 'state'"
    )
    pending_input = (
        "SELECT user_id, valid_from, valid_to FROM paid UNION ALL "
        f"SELECT user_id, valid_from, coalesce(valid_to, valid_from) FROM {files['open']} WHERE part = 'island'"
    )
    resolved_next = f"""
        SELECT 'island' AS kind, c.day, 0::BIGINT AS cents, 0::BIGINT AS users, c.from_day,
               {day_of("p.first_from")} AS next_day, c.n
        FROM {files["islands"]} c LEFT JOIN (SELECT user_id, min(i_from) AS first_from FROM islands GROUP BY user_id) p
            ON p.user_id = c.user_id
        WHERE c.user_id IS NOT NULL
    """
    return f"""
        WITH paid AS MATERIALIZED ({paid_states_select(f"{opened} UNION ALL {raw}")}),
        islands AS MATERIALIZED ({islands_select(pending_input)})
        SELECT 'step' AS kind, day, cents, users, NULL::DATE AS from_day, NULL::DATE AS next_day, NULL::BIGINT AS n
            FROM {files["steps"]}
        UNION ALL {" UNION ALL ".join(_steps("SELECT * FROM paid", "SELECT * FROM islands"))}
        UNION ALL {_ending("SELECT * FROM islands")}
        UNION ALL SELECT 'island', day, 0, 0, from_day, next_day, n FROM {files["islands"]} WHERE user_id IS NULL
        UNION ALL {resolved_next}
    """
