"""audit log

Revision ID: 7d3e8b41c2a0
Revises: 2b33e3704346
Create Date: 2026-12-01 22:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7d3e8b41c2a0"
down_revision: str | None = "2b33e3704346"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = GUID(binary=False)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", ID, nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("actor", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_id", ID, nullable=True),
        sa.Column("details", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", DateTimeUTC(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_created_at_id"), "audit_log", ["created_at", "id"])
    op.create_index(op.f("ix_audit_log_actor_id_created_at_id"), "audit_log", ["actor_id", "created_at", "id"])
    op.create_index(op.f("ix_audit_log_target_id_created_at_id"), "audit_log", ["target_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_target_id_created_at_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor_id_created_at_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_created_at_id"), table_name="audit_log")
    op.drop_table("audit_log")
