"""announcements, their per-recipient deliveries (at most one email each) and announcement unsubscribes

Revision ID: d7a2c5e81f46
Revises: c4e9a1f37b20
Create Date: 2026-12-02 10:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op

revision: str = "d7a2c5e81f46"
down_revision: str | None = "c4e9a1f37b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = GUID(binary=False)


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", ID, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_by", ID, nullable=False),
        sa.Column("created_at", DateTimeUTC(), nullable=False),
        sa.Column("finished_at", DateTimeUTC(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )
    op.create_index(op.f("ix_announcements_created_at_id"), "announcements", ["created_at", "id"])
    op.create_table(
        "announcement_deliveries",
        sa.Column("announcement_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", DateTimeUTC(), nullable=False),
        sa.Column("sent_at", DateTimeUTC(), nullable=True),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_announcement_deliveries_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_announcement_deliveries_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("announcement_id", "user_id", name=op.f("pk_announcement_deliveries")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_announcement_deliveries_token_hash")),
    )
    op.create_table(
        "email_unsubscribes",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", DateTimeUTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_email_unsubscribes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_email_unsubscribes")),
    )


def downgrade() -> None:
    op.drop_table("email_unsubscribes")
    op.drop_table("announcement_deliveries")
    op.drop_index(op.f("ix_announcements_created_at_id"), table_name="announcements")
    op.drop_table("announcements")
