"""grants: tokens an admin adds to a user's limit for one period

Revision ID: c4e9a1f37b20
Revises: e8b2c6d4a1f7
Create Date: 2026-12-02 09:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "c4e9a1f37b20"
down_revision: str | None = "e8b2c6d4a1f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = GUID(binary=False)


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("granted_by", ID, nullable=True),
        sa.Column("period_start", DateTimeUTC(), nullable=False),
        sa.Column("period_end", DateTimeUTC(), nullable=False),
        sa.Column("created_at", DateTimeUTC(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_grants_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants")),
    )
    op.create_index(op.f("ix_grants_user_id_period_start"), "grants", ["user_id", "period_start"])


def downgrade() -> None:
    op.drop_index(op.f("ix_grants_user_id_period_start"), table_name="grants")
    op.drop_table("grants")
