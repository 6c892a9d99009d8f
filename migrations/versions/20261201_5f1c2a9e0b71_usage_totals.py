"""usage totals: a user's usage per model and per UTC day of each period, backfilled from the usage records

Revision ID: 5f1c2a9e0b71
Revises: 7d3e8b41c2a0
Create Date: 2026-12-01 22:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "5f1c2a9e0b71"
down_revision: str | None = "7d3e8b41c2a0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = GUID(binary=False)

# Every request counts, cached ones too; only uncached ones count tokens (what the usage page always showed).
BACKFILL_MODELS = """
INSERT INTO usage_model_totals (user_id, period_start, model, provider, requests, prompt_tokens, completion_tokens)
SELECT user_id, period_start, model, provider, count(*),
       coalesce(sum(CASE WHEN cached THEN 0 ELSE prompt_tokens END), 0),
       coalesce(sum(CASE WHEN cached THEN 0 ELSE completion_tokens END), 0)
FROM usage_records
GROUP BY user_id, period_start, model, provider
"""
# The UTC calendar date of created_at: PostgreSQL would otherwise use the session's time zone; SQLite stores
# the UTC wall time as text, whose date() is the answer.
UTC_DAY = {"postgresql": "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')", "sqlite": "date(created_at)"}
BACKFILL_DAYS = """
INSERT INTO usage_day_totals (user_id, period_start, day, total_tokens)
SELECT user_id, period_start, {day}, sum(prompt_tokens + completion_tokens)
FROM usage_records
WHERE NOT cached
GROUP BY user_id, period_start, {day}
"""


def upgrade() -> None:
    op.create_table(
        "usage_model_totals",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("period_start", DateTimeUTC(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("prompt_tokens", sa.BigInteger(), nullable=False),
        sa.Column("completion_tokens", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_model_totals_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "period_start", "model", "provider", name=op.f("pk_usage_model_totals")),
    )
    op.create_table(
        "usage_day_totals",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("period_start", DateTimeUTC(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_day_totals_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "period_start", "day", name=op.f("pk_usage_day_totals")),
    )
    op.execute(BACKFILL_MODELS)
    op.execute(BACKFILL_DAYS.format(day=UTC_DAY[op.get_bind().dialect.name]))


def downgrade() -> None:
    op.drop_table("usage_day_totals")
    op.drop_table("usage_model_totals")
