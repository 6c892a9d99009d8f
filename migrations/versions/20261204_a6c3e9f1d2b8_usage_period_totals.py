"""usage period totals: a user's uncached tokens per period as one row, backfilled from the model totals

Revision ID: a6c3e9f1d2b8
Revises: f2b7d9e4c1a3
Create Date: 2026-12-04 02:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "a6c3e9f1d2b8"
down_revision: str | None = "f2b7d9e4c1a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = GUID(binary=False)

# The model totals count only uncached tokens already: a period's total is the sum of its rows.
BACKFILL = """
INSERT INTO usage_period_totals (user_id, period_start, total_tokens)
SELECT user_id, period_start, sum(prompt_tokens + completion_tokens)
FROM usage_model_totals
GROUP BY user_id, period_start
"""


def upgrade() -> None:
    op.create_table(
        "usage_period_totals",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("period_start", DateTimeUTC(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usage_period_totals_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "period_start", name=op.f("pk_usage_period_totals")),
    )
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_table("usage_period_totals")
