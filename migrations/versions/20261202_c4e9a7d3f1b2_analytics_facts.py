"""analytics facts: the analytics context's outbox (one row per fact, appended with the change it records)

Revision ID: c4e9a7d3f1b2
Revises: b3d8f2a61c90
Create Date: 2026-12-02 01:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c4e9a7d3f1b2"
down_revision: str | None = "b3d8f2a61c90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = GUID(binary=False)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "analytics_facts",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("occurred_at", DateTimeUTC(), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("data", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_facts")),
    )
    op.create_index(op.f("ix_analytics_facts_occurred_at"), "analytics_facts", ["occurred_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_analytics_facts_occurred_at"), table_name="analytics_facts")
    op.drop_table("analytics_facts")
