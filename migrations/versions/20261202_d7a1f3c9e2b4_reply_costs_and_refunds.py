"""reply costs and refunds: what each usage record's reply cost (micro-dollars, 0 for the rows before), and how
much of a payment went back to the customer (cents, 0 for the rows before)

Revision ID: d7a1f3c9e2b4
Revises: c4e9a7d3f1b2
Create Date: 2026-12-02 02:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7a1f3c9e2b4"
down_revision: str | None = "c4e9a7d3f1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("cost_micros", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("refunded_cents", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("refunded_cents")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("cost_micros")
