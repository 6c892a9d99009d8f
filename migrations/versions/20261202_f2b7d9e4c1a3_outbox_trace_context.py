"""outbox.trace_context: the trace an outbox message was written in, so its job continues that trace

Revision ID: f2b7d9e4c1a3
Revises: d7a1c5e3b9f4
Create Date: 2026-12-02 02:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2b7d9e4c1a3"
down_revision: str | None = "d7a1c5e3b9f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("trace_context", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("trace_context")
