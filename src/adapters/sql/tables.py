"""The relational schema: declared as ORM classes (the most readable form), one MetaData, and constraint
names Alembic can rely on.

The repositories use the plain tables below the classes (`users`, `messages`, ...) in Core statements and
map rows to and from the domain's dataclasses, so the domain never sees SQLAlchemy and no request pays for
the ORM's unit of work. Ids come from the domain (UUIDv7), never from the database.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic names, so a migration written today can drop or alter a constraint tomorrow by name.
NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
}
HASH_LENGTH = 64  # hex SHA-256 (domain.identity.secrets.hash_secret)
NAME_LENGTH = 100  # model ids and provider names from the catalogue
TITLE_LENGTH = 200  # titles are cut to 60 characters today; room for a user's own
PLAN_LENGTH = 64  # plan ids from the catalogue, as users.plan
GATEWAY_ID_LENGTH = 255  # ids the payment gateway makes up (Stripe documents up to 255 characters)

# Native uuid on PostgreSQL; 32 hex characters on SQLite (a BINARY(16) column there has NUMERIC affinity
# and reflects as NUMERIC, which would make the schema comparison with migrations report a false change).
Id = GUID(binary=False)

# advanced_alchemy's JsonB is this plus an Oracle variant whose table hook calls
# sqlalchemy.util.portable_instancemethod, which SQLAlchemy 2.1 removed: attaching it to a table fails.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


metadata = Base.metadata


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    plan: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    refresh_token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    rotated_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)


class OneTimeTokenRow(Base):
    __tablename__ = "one_time_tokens"
    __table_args__ = (UniqueConstraint("purpose", "token_hash"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    expires_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    used_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)


class OutboxRow(Base):
    __tablename__ = "outbox"
    # The relay asks for "unpublished, oldest first" every poll: a partial index keeps that an index
    # scan over the (few) pending rows however many published ones pile up. Ids are UUIDv7, so id
    # order is creation order.
    __table_args__ = (
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    topic: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    trace_context: Mapped[str | None] = mapped_column(String(128))
    """The W3C traceparent of the span the message was written in (null when tracing is off)."""
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    published_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)
    done_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class ConversationRow(Base):
    __tablename__ = "conversations"
    # The conversation list: one user's rows, newest `updated_at` first, ties by id (keyset pagination).
    __table_args__ = (Index(None, "user_id", "updated_at", "id"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_LENGTH))
    model: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    message_count: Mapped[int] = mapped_column(Integer)


class MessageRow(Base):
    __tablename__ = "messages"
    # A conversation's messages, oldest first; also serves deleting them by conversation.
    __table_args__ = (Index(None, "conversation_id", "created_at", "id"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    conversation_id: Mapped[UUID] = mapped_column(Id, ForeignKey("conversations.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(Id)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    provider: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cached: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)


class UsageRecordRow(Base):
    """What a reply cost. `message_id` is deliberately no foreign key: the record outlives a deleted
    conversation, because the tokens were spent (and billed) all the same."""

    __tablename__ = "usage_records"
    # Every usage question is "this user, this period".
    __table_args__ = (Index(None, "user_id", "period_start"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[UUID | None] = mapped_column(Id)
    model: Mapped[str] = mapped_column(String(NAME_LENGTH))
    provider: Mapped[str] = mapped_column(String(NAME_LENGTH))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cached: Mapped[bool] = mapped_column(Boolean)
    period_start: Mapped[datetime] = mapped_column(DateTimeUTC)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[int | None] = mapped_column(Integer)
    failovers: Mapped[int] = mapped_column(Integer)
    # What the reply cost at the provider's price then, in millionths of a dollar (a later price rewrites nothing).
    cost_micros: Mapped[int] = mapped_column(BigInteger, server_default="0")


class UsageModelTotalRow(Base):
    """A user's usage of one model through one provider in one period, kept up to date by each reply's own
    transaction (so the usage page and a cold quota ledger read a few rows, however long the history): every
    request counts, cached ones too; only uncached ones count tokens. A period's total is the sum of its rows."""

    __tablename__ = "usage_model_totals"
    __table_args__ = (PrimaryKeyConstraint("user_id", "period_start", "model", "provider"),)

    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(DateTimeUTC)
    model: Mapped[str] = mapped_column(String(NAME_LENGTH))
    provider: Mapped[str] = mapped_column(String(NAME_LENGTH))
    requests: Mapped[int] = mapped_column(BigInteger)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger)
    completion_tokens: Mapped[int] = mapped_column(BigInteger)


class UsageDayTotalRow(Base):
    """A user's uncached tokens per UTC day ('YYYY-MM-DD') of a period; a day only cached replies used has no row."""

    __tablename__ = "usage_day_totals"
    __table_args__ = (PrimaryKeyConstraint("user_id", "period_start", "day"),)

    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(DateTimeUTC)
    day: Mapped[str] = mapped_column(String(10))
    total_tokens: Mapped[int] = mapped_column(BigInteger)


class UsagePeriodTotalRow(Base):
    """A user's uncached tokens in one period: the sum of the period's model totals, kept as one row so that the
    reply's own statement learns the durable total before and after it (what the quota messages a reply
    causes are decided on, application/conversation/crossings.py), concurrent replies of one user queuing on it."""

    __tablename__ = "usage_period_totals"
    __table_args__ = (PrimaryKeyConstraint("user_id", "period_start"),)

    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(DateTimeUTC)
    total_tokens: Mapped[int] = mapped_column(BigInteger)


class SubscriptionRow(Base):
    __tablename__ = "subscriptions"
    # The renewal scheduler asks for "period ended, oldest first"; a user's newest subscription is the
    # last entry of (user_id, id), ids being time-ordered.
    __table_args__ = (Index(None, "current_period_end"), Index(None, "user_id", "id"))

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    plan: Mapped[str] = mapped_column(String(PLAN_LENGTH))
    status: Mapped[str] = mapped_column(String(16))
    gateway: Mapped[str] = mapped_column(String(32))
    current_period_start: Mapped[datetime] = mapped_column(DateTimeUTC)
    current_period_end: Mapped[datetime] = mapped_column(DateTimeUTC)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean)
    pending_plan: Mapped[str | None] = mapped_column(String(PLAN_LENGTH))
    external_id: Mapped[str | None] = mapped_column(String(GATEWAY_ID_LENGTH), unique=True)
    customer_id: Mapped[str | None] = mapped_column(String(GATEWAY_ID_LENGTH))
    client_secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    updated_at: Mapped[datetime] = mapped_column(DateTimeUTC)


class PaymentRow(Base):
    """A payment and its invoice. `external_id` (the gateway's invoice id) is unique, so a replayed webhook
    records a payment once; `lines` is a list of {description, amount_cents}."""

    __tablename__ = "payments"
    # The payments page: one user's rows, newest `created_at` first, ties by id (keyset pagination).
    __table_args__ = (Index(None, "user_id", "created_at", "id"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    period_start: Mapped[datetime] = mapped_column(DateTimeUTC)
    period_end: Mapped[datetime] = mapped_column(DateTimeUTC)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    invoice_number: Mapped[str] = mapped_column(String(64), unique=True)
    invoice_url: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(GATEWAY_ID_LENGTH), unique=True)
    plan: Mapped[str | None] = mapped_column(String(PLAN_LENGTH))
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JsonDocument)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, server_default="0")


class ReceivedEventRow(Base):
    """A verified gateway webhook event; its id (the gateway's) is the primary key, so a duplicate is refused."""

    __tablename__ = "received_events"

    id: Mapped[str] = mapped_column(String(GATEWAY_ID_LENGTH), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    received_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    processed_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)


class QuotaNoticeRow(Base):
    """That the `threshold`% quota notice went out to a user for a period: the key is the whole row."""

    __tablename__ = "quota_notices"
    __table_args__ = (PrimaryKeyConstraint("user_id", "period_start", "threshold"),)

    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    period_start: Mapped[datetime] = mapped_column(DateTimeUTC)
    threshold: Mapped[int] = mapped_column(Integer)


class AuditLogRow(Base):
    """One audit entry (application/shared/audit.py). Append-only, and deliberately without foreign keys:
    the record of a change outlives the accounts it names."""

    __tablename__ = "audit_log"
    # Pages are newest first, over everything or one actor's or one target's entries.
    __table_args__ = (
        Index(None, "created_at", "id"),
        Index(None, "actor_id", "created_at", "id"),
        Index(None, "target_id", "created_at", "id"),
    )

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    actor_id: Mapped[UUID | None] = mapped_column(Id)
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[UUID | None] = mapped_column(Id)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)


class AnalyticsFactRow(Base):
    """One analytics fact (application/shared/facts.py): the analytics context's outbox, appended in the
    transaction of the change it records and drained into Parquet by the export job. Append-only (the export's
    retention deletes old rows), without foreign keys: a fact outlives the account it names."""

    __tablename__ = "analytics_facts"
    __table_args__ = (Index(None, "occurred_at"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(48))
    occurred_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    user_id: Mapped[UUID | None] = mapped_column(Id)
    data: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class GrantRow(Base):
    """Tokens an admin granted a user for one period (domain/billing/grant.py). `granted_by` is no foreign key:
    the record of who granted outlives that admin's account."""

    __tablename__ = "grants"
    # The allowance asks for "this user's grants of this period".
    __table_args__ = (Index(None, "user_id", "period_start"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    tokens: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    granted_by: Mapped[UUID | None] = mapped_column(Id)
    period_start: Mapped[datetime] = mapped_column(DateTimeUTC)
    period_end: Mapped[datetime] = mapped_column(DateTimeUTC)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)


class AnnouncementRow(Base):
    """An email to an audience (domain/identity/announcement.py); how many went is counted from its deliveries."""

    __tablename__ = "announcements"
    # The admin list: newest first.
    __table_args__ = (Index(None, "created_at", "id"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    body_markdown: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    recipients: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[UUID] = mapped_column(Id)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    finished_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)


class AnnouncementDeliveryRow(Base):
    """One recipient of one announcement, claimed before the email goes: the key makes it at most once.
    `token_hash` is the hash of the unsubscribe token that email carries."""

    __tablename__ = "announcement_deliveries"
    __table_args__ = (PrimaryKeyConstraint("announcement_id", "user_id"),)

    announcement_id: Mapped[UUID] = mapped_column(Id, ForeignKey("announcements.id", ondelete="CASCADE"))
    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    sent_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)


class EmailUnsubscribeRow(Base):
    """A user who wants no more announcements (account and billing emails still go out)."""

    __tablename__ = "email_unsubscribes"

    user_id: Mapped[UUID] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTimeUTC)


class AnalyticsExportRow(Base):
    """One UTC day's last export of analytics facts to Parquet: when it ran, the newest occurred_at it wrote
    (null for a day without facts), how many facts it wrote, and when the retention deleted the day's facts
    from analytics_facts (null while they are there)."""

    __tablename__ = "analytics_exports"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    exported_at: Mapped[datetime] = mapped_column(DateTimeUTC)
    through: Mapped[datetime | None] = mapped_column(DateTimeUTC)
    facts: Mapped[int] = mapped_column(BigInteger)
    purged_at: Mapped[datetime | None] = mapped_column(DateTimeUTC)


# Invoice numbers. PostgreSQL draws them from a real sequence: nextval never hands a number out twice,
# whatever the concurrency, and never waits for another transaction. SQLite has no sequences; there the
# one row of `invoice_number_counter` is bumped in the unit's transaction (writers are serialised by the
# database lock, so two units never see the same value). The table exists on PostgreSQL too, unused, so
# both databases have the schema this MetaData describes.
invoice_number_seq = Sequence("invoice_number_seq", metadata=metadata)


class InvoiceNumberCounterRow(Base):
    __tablename__ = "invoice_number_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)


# The tables themselves, for the repositories' Core statements.
users: Table = metadata.tables["users"]
sessions: Table = metadata.tables["sessions"]
api_keys: Table = metadata.tables["api_keys"]
one_time_tokens: Table = metadata.tables["one_time_tokens"]
outbox: Table = metadata.tables["outbox"]
conversations: Table = metadata.tables["conversations"]
messages: Table = metadata.tables["messages"]
usage_records: Table = metadata.tables["usage_records"]
usage_model_totals: Table = metadata.tables["usage_model_totals"]
usage_day_totals: Table = metadata.tables["usage_day_totals"]
usage_period_totals: Table = metadata.tables["usage_period_totals"]
subscriptions: Table = metadata.tables["subscriptions"]
payments: Table = metadata.tables["payments"]
received_events: Table = metadata.tables["received_events"]
quota_notices: Table = metadata.tables["quota_notices"]
invoice_number_counter: Table = metadata.tables["invoice_number_counter"]
audit_log: Table = metadata.tables["audit_log"]
analytics_facts: Table = metadata.tables["analytics_facts"]
grants: Table = metadata.tables["grants"]
announcements: Table = metadata.tables["announcements"]
announcement_deliveries: Table = metadata.tables["announcement_deliveries"]
email_unsubscribes: Table = metadata.tables["email_unsubscribes"]
analytics_exports: Table = metadata.tables["analytics_exports"]
