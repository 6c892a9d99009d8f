"""deleted accounts: users.deleted_at, set when the owner deletes the account (its address and name are erased)

Revision ID: b3d8f2a61c90
Revises: 9a4c1e7b2d55
Create Date: 2026-12-01 23:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import DateTimeUTC
from alembic import op

revision: str = "b3d8f2a61c90"
down_revision: str | None = "9a4c1e7b2d55"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deleted_at", DateTimeUTC(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deleted_at")
