"""analytics exports: one row per UTC day exported to Parquet (when, through which occurred_at, how many
facts, and when the retention deleted the day's facts from analytics_facts)

Revision ID: d7a1c5e3b9f4
Revises: d7a2c5e81f46
Create Date: 2026-12-02 02:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "d7a1c5e3b9f4"
down_revision: str | None = "d7a2c5e81f46"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_exports",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("exported_at", DateTimeUTC(), nullable=False),
        sa.Column("through", DateTimeUTC(), nullable=True),
        sa.Column("facts", sa.BigInteger(), nullable=False),
        sa.Column("purged_at", DateTimeUTC(), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_analytics_exports")),
    )


def downgrade() -> None:
    op.drop_table("analytics_exports")
