"""billing

Revision ID: 2b33e3704346
Revises: 64ad761112c8
Create Date: 2026-11-26 01:20:13.302240+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2b33e3704346"
down_revision: str | None = "64ad761112c8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = GUID(binary=False)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# PostgreSQL draws invoice numbers from this sequence; SQLite, which has no sequences, from the counter table.
INVOICE_NUMBER_SEQ = sa.Sequence("invoice_number_seq")


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("plan", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("gateway", sa.String(length=32), nullable=False),
        sa.Column("current_period_start", DateTimeUTC(), nullable=False),
        sa.Column("current_period_end", DateTimeUTC(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("pending_plan", sa.String(length=64), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("client_secret", sa.Text(), nullable=True),
        sa.Column("created_at", DateTimeUTC(), nullable=False),
        sa.Column("updated_at", DateTimeUTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_subscriptions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("external_id", name=op.f("uq_subscriptions_external_id")),
    )
    op.create_index(op.f("ix_subscriptions_current_period_end"), "subscriptions", ["current_period_end"])
    op.create_index(op.f("ix_subscriptions_user_id_id"), "subscriptions", ["user_id", "id"])
    op.create_table(
        "payments",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("period_start", DateTimeUTC(), nullable=False),
        sa.Column("period_end", DateTimeUTC(), nullable=False),
        sa.Column("created_at", DateTimeUTC(), nullable=False),
        sa.Column("invoice_number", sa.String(length=64), nullable=False),
        sa.Column("invoice_url", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("plan", sa.String(length=64), nullable=True),
        sa.Column("lines", JSON_DOCUMENT, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("external_id", name=op.f("uq_payments_external_id")),
        sa.UniqueConstraint("invoice_number", name=op.f("uq_payments_invoice_number")),
    )
    op.create_index(op.f("ix_payments_user_id_created_at_id"), "payments", ["user_id", "created_at", "id"])
    op.create_table(
        "received_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("payload", JSON_DOCUMENT, nullable=False),
        sa.Column("received_at", DateTimeUTC(), nullable=False),
        sa.Column("processed_at", DateTimeUTC(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_events")),
    )
    op.create_table(
        "quota_notices",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("period_start", DateTimeUTC(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_quota_notices_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "period_start", "threshold", name=op.f("pk_quota_notices")),
    )
    op.create_table(
        "invoice_number_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_number_counter")),
    )
    if _is_postgresql():
        op.execute(sa.schema.CreateSequence(INVOICE_NUMBER_SEQ))


def downgrade() -> None:
    if _is_postgresql():
        op.execute(sa.schema.DropSequence(INVOICE_NUMBER_SEQ))
    op.drop_table("invoice_number_counter")
    op.drop_table("quota_notices")
    op.drop_table("received_events")
    op.drop_index(op.f("ix_payments_user_id_created_at_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_subscriptions_user_id_id"), table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_current_period_end"), table_name="subscriptions")
    op.drop_table("subscriptions")
