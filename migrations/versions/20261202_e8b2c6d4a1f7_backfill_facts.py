"""backfill facts: the analytics facts of what existed before facts were recorded (every sign-up, verification,
current subscription, succeeded payment and usage record), with the ids the live code gives the same facts, so
running it twice, or after the code has recorded some of them, records each fact once

Revision ID: e8b2c6d4a1f7
Revises: d7a1f3c9e2b4
Create Date: 2026-12-02 03:00:00.000000+00:00
"""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import sqlalchemy as sa
from advanced_alchemy.types import GUID, DateTimeUTC
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision: str = "e8b2c6d4a1f7"
down_revision: str | None = "d7a1f3c9e2b4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = GUID(binary=False)
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BATCH = 1_000
# fact_id(kind, key) as the application computes it (application/shared/facts.py), frozen here.
NAMESPACE = uuid5(NAMESPACE_URL, "https://parley.dev/analytics/facts")
GRANTING = ("active", "trialing", "past_due")

facts = sa.table(
    "analytics_facts",
    sa.column("id", ID),
    sa.column("kind", sa.String),
    sa.column("occurred_at", DateTimeUTC()),
    sa.column("user_id", ID),
    sa.column("data", JSON_DOCUMENT),
)
users = sa.table(
    "users", sa.column("id", ID), sa.column("created_at", DateTimeUTC()), sa.column("email_verified_at", DateTimeUTC())
)
subscriptions = sa.table(
    "subscriptions",
    sa.column("id", ID),
    sa.column("user_id", ID),
    sa.column("plan", sa.String),
    sa.column("status", sa.String),
    sa.column("created_at", DateTimeUTC()),
)
payments = sa.table(
    "payments",
    sa.column("id", ID),
    sa.column("user_id", ID),
    sa.column("amount_cents", sa.BigInteger),
    sa.column("currency", sa.String),
    sa.column("status", sa.String),
    sa.column("plan", sa.String),
    sa.column("created_at", DateTimeUTC()),
)
usage_records = sa.table(
    "usage_records",
    sa.column("id", ID),
    sa.column("user_id", ID),
    sa.column("message_id", ID),
    sa.column("model", sa.String),
    sa.column("provider", sa.String),
    sa.column("prompt_tokens", sa.Integer),
    sa.column("completion_tokens", sa.Integer),
    sa.column("cached", sa.Boolean),
    sa.column("created_at", DateTimeUTC()),
    sa.column("latency_ms", sa.Integer),
    sa.column("ttft_ms", sa.Integer),
    sa.column("failovers", sa.Integer),
    sa.column("cost_micros", sa.BigInteger),
)
messages = sa.table("messages", sa.column("id", ID), sa.column("conversation_id", ID))


def _fact(kind: str, key: Any, occurred_at: datetime, user_id: UUID, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": uuid5(NAMESPACE, f"{kind}:{key}"),
        "kind": kind,
        "occurred_at": occurred_at,
        "user_id": user_id,
        "data": data,
    }


def _backfilled(connection: sa.Connection) -> Iterator[dict[str, Any]]:
    for row in connection.execute(sa.select(users.c.id, users.c.created_at, users.c.email_verified_at)):
        yield _fact("user.signed_up", row.id, row.created_at, row.id, {})
        if row.email_verified_at is not None:
            yield _fact("user.verified", row.id, row.email_verified_at, row.id, {})
    current = sa.select(subscriptions).where(subscriptions.c.status.in_(GRANTING))
    for row in connection.execute(current):
        # The plans' prices are configuration, not data: the backfill leaves price_cents and currency empty.
        data = {"subscription_id": str(row.id), "plan": row.plan, "status": row.status}
        yield _fact("subscription.started", row.id, row.created_at, row.user_id, data)
    for row in connection.execute(sa.select(payments).where(payments.c.status == "succeeded")):
        data = {"payment_id": str(row.id), "amount_cents": row.amount_cents, "currency": row.currency, "plan": row.plan}
        yield _fact("payment.succeeded", row.id, row.created_at, row.user_id, data)
    replies = sa.select(usage_records, messages.c.conversation_id).select_from(
        usage_records.outerjoin(messages, messages.c.id == usage_records.c.message_id)
    )
    for row in connection.execute(replies):
        # What a usage record holds; the plan then and why the reply ended were never stored.
        data = {
            "conversation_id": str(row.conversation_id) if row.conversation_id else None,
            "model": row.model,
            "provider": row.provider or None,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "cost_micros": row.cost_micros,
            "latency_ms": row.latency_ms,
            "ttft_ms": row.ttft_ms,
            "failovers": row.failovers,
            "cached": row.cached,
        }
        yield _fact("message.replied", row.id, row.created_at, row.user_id, data)


def upgrade() -> None:
    connection = op.get_bind()
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(facts).on_conflict_do_nothing(index_elements=["id"])
    batch: list[dict[str, Any]] = []
    for fact in list(_backfilled(connection)):
        batch.append(fact)
        if len(batch) == BATCH:
            connection.execute(insert, batch)
            batch = []
    if batch:
        connection.execute(insert, batch)


def downgrade() -> None:
    """The backfilled facts stay: they are the same facts the live code records, and the export may have
    taken them already."""
