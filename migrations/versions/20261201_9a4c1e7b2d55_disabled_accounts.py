"""disabled accounts

Revision ID: 9a4c1e7b2d55
Revises: 5f1c2a9e0b71
Create Date: 2026-12-01 23:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "9a4c1e7b2d55"
down_revision: str | None = "5f1c2a9e0b71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled_at", DateTimeUTC(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column in place (3.35+); a batch copy of `users` would cascade into its sessions.
        op.execute("ALTER TABLE users DROP COLUMN disabled_at")
    else:
        op.drop_column("users", "disabled_at")
