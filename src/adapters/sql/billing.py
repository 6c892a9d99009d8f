"""Billing repositories over SQL (and the account directory over identity's users table): Core statements on
the unit's transaction, with explicit mappers between rows and the domain's dataclasses.

Whatever must not happen twice is decided by the database in one statement, never by a read before a
write: a received event and a quota notice are `INSERT ... ON CONFLICT DO NOTHING`, a payment's gateway
invoice id likewise, so a duplicate is an answer (False, Conflict) and the transaction goes on. Renewals
are claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so two schedulers never renew one subscription;
SQLite has no row locks and SQLAlchemy renders the same statement there as a plain SELECT.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, Table, bindparam, func, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.sql.tables import (
    grants,
    invoice_number_counter,
    invoice_number_seq,
    payments,
    quota_notices,
    received_events,
    subscriptions,
    users,
)
from adapters.sql.transaction import SqlTransaction, update_parameters
from application.billing.ports import Account, ReceivedEvent
from domain.billing.grant import Grant
from domain.billing.model import InvoiceLine, Payment, PaymentStatus, Subscription, SubscriptionStatus
from domain.shared.errors import Conflict

# Statuses in which a subscription grants its plan (Subscription.grants_plan): the ones that renew.
RENEWING = (SubscriptionStatus.ACTIVE.value, SubscriptionStatus.TRIALING.value, SubscriptionStatus.PAST_DUE.value)

# --- dialect differences ------------------------------------------------------------------------


def _insert(tx: SqlTransaction, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT DO NOTHING: each dialect has its own construct for it."""
    return postgresql.insert(table) if tx.dialect == "postgresql" else sqlite.insert(table)


# --- mappers ------------------------------------------------------------------------------------


def account_from_row(row: Row[Any]) -> Account:
    return Account(row.id, row.email, row.name, row.plan, row.created_at, deleted=row.deleted_at is not None)


def subscription_values(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "user_id": subscription.user_id,
        "plan": subscription.plan,
        "status": subscription.status.value,
        "gateway": subscription.gateway,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "pending_plan": subscription.pending_plan,
        "external_id": subscription.external_id,
        "customer_id": subscription.customer_id,
        "client_secret": subscription.client_secret,
        "created_at": subscription.created_at,
        "updated_at": subscription.updated_at,
    }


def subscription_from_row(row: Row[Any]) -> Subscription:
    return Subscription(
        id=row.id,
        user_id=row.user_id,
        plan=row.plan,
        status=SubscriptionStatus(row.status),
        gateway=row.gateway,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
        cancel_at_period_end=row.cancel_at_period_end,
        pending_plan=row.pending_plan,
        external_id=row.external_id,
        customer_id=row.customer_id,
        client_secret=row.client_secret,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def payment_values(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "user_id": payment.user_id,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
        "status": payment.status.value,
        "description": payment.description,
        "period_start": payment.period_start,
        "period_end": payment.period_end,
        "created_at": payment.created_at,
        "invoice_number": payment.invoice_number,
        "invoice_url": payment.invoice_url,
        "external_id": payment.external_id,
        "plan": payment.plan,
        "lines": [{"description": line.description, "amount_cents": line.amount_cents} for line in payment.lines],
        "refunded_cents": payment.refunded_cents,
    }


def payment_from_row(row: Row[Any]) -> Payment:
    return Payment(
        id=row.id,
        user_id=row.user_id,
        amount_cents=row.amount_cents,
        currency=row.currency,
        status=PaymentStatus(row.status),
        description=row.description,
        period_start=row.period_start,
        period_end=row.period_end,
        created_at=row.created_at,
        invoice_number=row.invoice_number,
        invoice_url=row.invoice_url,
        external_id=row.external_id,
        plan=row.plan,
        lines=tuple(
            InvoiceLine(description=line["description"], amount_cents=line["amount_cents"]) for line in row.lines
        ),
        refunded_cents=row.refunded_cents,
    )


# A payload is copied on the way in (an update runs at the unit's next statement or commit), so a caller
# changing the event meanwhile does not change what is stored; reads decode a fresh one each time.


def event_values(event: ReceivedEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "payload": copy.deepcopy(event.payload),
        "received_at": event.received_at,
        "processed_at": event.processed_at,
    }


def event_from_row(row: Row[Any]) -> ReceivedEvent:
    return ReceivedEvent(
        id=row.id,
        type=row.type,
        payload=row.payload,
        received_at=row.received_at,
        processed_at=row.processed_at,
    )


# --- statements ---------------------------------------------------------------------------------

_ACCOUNT = select(users.c.id, users.c.email, users.c.name, users.c.plan, users.c.created_at, users.c.deleted_at).where(
    users.c.id == bindparam("key")
)
_ACCOUNT_BY_EMAIL = select(
    users.c.id, users.c.email, users.c.name, users.c.plan, users.c.created_at, users.c.deleted_at
).where(func.lower(users.c.email) == func.lower(bindparam("email")), users.c.deleted_at.is_(None))
_SET_PLAN = update(users).where(users.c.id == bindparam("key"))

_ADD_GRANT = insert(grants)
_GRANT = select(grants).where(grants.c.id == bindparam("key"))
_GRANTS_OF_PERIOD = (
    select(grants)
    .where(grants.c.user_id == bindparam("user_id"), grants.c.period_start == bindparam("period_start"))
    .order_by(grants.c.created_at, grants.c.id)
)

_ADD_SUBSCRIPTION = insert(subscriptions)
# The user's newest subscription (ids are time-ordered), along the (user_id, id) index.
_SUBSCRIPTION_OF_USER = (
    select(subscriptions)
    .where(subscriptions.c.user_id == bindparam("user_id"))
    .order_by(subscriptions.c.id.desc())
    .limit(1)
)
_SUBSCRIPTION_BY_EXTERNAL_ID = select(subscriptions).where(subscriptions.c.external_id == bindparam("external_id"))
_UPDATE_SUBSCRIPTION = update(subscriptions).where(subscriptions.c.id == bindparam("key"))

_PAYMENT = select(payments).where(payments.c.id == bindparam("key"))
_PAYMENT_BY_EXTERNAL_ID = select(payments).where(payments.c.external_id == bindparam("external_id"))

_EVENT_LOCKED = select(received_events).where(received_events.c.id == bindparam("key")).with_for_update()
_UPDATE_EVENT = update(received_events).where(received_events.c.id == bindparam("key"))


# --- repositories -------------------------------------------------------------------------------


class SqlAccountDirectory:
    """Identity's users table, seen from billing: read a user as an Account, write only `plan`."""

    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def get(self, user_id: UUID) -> Account | None:
        row = (await self._tx.read(_ACCOUNT, {"key": user_id})).first()
        return None if row is None else account_from_row(row)

    async def get_by_email(self, email: str) -> Account | None:
        row = (await self._tx.read(_ACCOUNT_BY_EMAIL, {"email": email.strip()})).first()
        return None if row is None else account_from_row(row)

    async def set_plan(self, user_id: UUID, plan: str) -> None:
        """One UPDATE; a user read again in this unit has the new plan (every read goes to the database)."""
        self._tx.write(_SET_PLAN, {"key": user_id, "plan": plan})


class SqlSubscriptionRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, subscription: Subscription) -> None:
        self._tx.write(_ADD_SUBSCRIPTION, subscription_values(subscription))

    async def get_for_user(self, user_id: UUID) -> Subscription | None:
        row = (await self._tx.read(_SUBSCRIPTION_OF_USER, {"user_id": user_id})).first()
        return None if row is None else subscription_from_row(row)

    async def get_by_external_id(self, external_id: str) -> Subscription | None:
        row = (await self._tx.read(_SUBSCRIPTION_BY_EXTERNAL_ID, {"external_id": external_id})).first()
        return None if row is None else subscription_from_row(row)

    async def update(self, subscription: Subscription) -> None:
        """One UPDATE of every field but the id, so what is stored is exactly the object handed in."""
        self._tx.write(_UPDATE_SUBSCRIPTION, update_parameters(subscription_values(subscription)))

    async def due_for_renewal(self, now: datetime, limit: int) -> Sequence[Subscription]:
        """Renewing subscriptions whose period ended by `now`, oldest end first (ties by id). On PostgreSQL
        the rows stay locked until the unit ends and rows another unit holds are skipped, so concurrent
        schedulers share the backlog instead of renewing one subscription twice."""
        rows = await self._tx.execute(
            select(subscriptions)
            .where(subscriptions.c.status.in_(RENEWING), subscriptions.c.current_period_end <= now)
            .order_by(subscriptions.c.current_period_end, subscriptions.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [subscription_from_row(row) for row in rows]


class SqlPaymentRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, payment: Payment) -> None:
        """Inserted at once, so a gateway invoice recorded before (by an earlier unit, or a concurrent one
        that committed first) is a Conflict here, and the unit can still commit what else it did."""
        result = await self._tx.execute(
            _insert(self._tx, payments)
            .values(payment_values(payment))
            .on_conflict_do_nothing(index_elements=[payments.c.external_id])
            .returning(payments.c.id)
        )
        if result.first() is None:
            raise Conflict("This invoice is recorded already.")

    async def get(self, payment_id: UUID) -> Payment | None:
        row = (await self._tx.read(_PAYMENT, {"key": payment_id})).first()
        return None if row is None else payment_from_row(row)

    async def get_by_external_id(self, external_id: str) -> Payment | None:
        row = (await self._tx.read(_PAYMENT_BY_EXTERNAL_ID, {"external_id": external_id})).first()
        return None if row is None else payment_from_row(row)

    async def update(self, payment: Payment) -> None:
        await self._tx.execute(
            update(payments).where(payments.c.id == payment.id).values(refunded_cents=payment.refunded_cents)
        )

    async def list_for_user(self, user_id: UUID, limit: int, before: tuple[datetime, UUID] | None) -> Sequence[Payment]:
        """Keyset pagination along the (user_id, created_at, id) index: newest first, ties by id descending."""
        query = select(payments).where(payments.c.user_id == user_id)
        if before is not None:
            # Compared with a plain tuple, so each value is bound through its column's type (UTC, uuid).
            query = query.where(tuple_(payments.c.created_at, payments.c.id) < before)
        rows = await self._tx.read(query.order_by(payments.c.created_at.desc(), payments.c.id.desc()).limit(limit))
        return [payment_from_row(row) for row in rows]

    async def next_invoice_number(self) -> int:
        """PostgreSQL: nextval, outside transactions (a rolled-back unit leaves a gap, never a repeat).
        SQLite: the counter row, upserted and read back in one statement inside the unit's transaction,
        which takes the database's write lock, so no other unit draws until this one ends (a rolled-back
        unit's number comes round again, but so does its invoice, which was never stored)."""
        if self._tx.dialect == "postgresql":
            result = await self._tx.execute(select(invoice_number_seq.next_value()))
        else:
            counter = invoice_number_counter
            result = await self._tx.execute(
                sqlite.insert(counter)
                .values(id=1, last_value=1)
                .on_conflict_do_update(index_elements=[counter.c.id], set_={"last_value": counter.c.last_value + 1})
                .returning(counter.c.last_value)
            )
        number = result.scalar()
        if number is None:
            raise RuntimeError("The database drew no invoice number")
        return int(number)


class SqlReceivedEventRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, event: ReceivedEvent) -> bool:
        """False for an id received before, the stored event untouched and the transaction still usable. A
        concurrent unit inserting the same id makes this wait for it: False if it commits, True if it rolls back."""
        result = await self._tx.execute(
            _insert(self._tx, received_events)
            .values(event_values(event))
            .on_conflict_do_nothing(index_elements=[received_events.c.id])
            .returning(received_events.c.id)
        )
        return result.first() is not None

    async def lock(self, event_id: str) -> ReceivedEvent | None:
        """On PostgreSQL the row stays locked until the unit ends, so one event is processed by one job at a time."""
        row = (await self._tx.execute(_EVENT_LOCKED, {"key": event_id})).first()
        return None if row is None else event_from_row(row)

    async def update(self, event: ReceivedEvent) -> None:
        self._tx.write(_UPDATE_EVENT, update_parameters(event_values(event)))


class SqlQuotaNoticeRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add_once(self, user_id: UUID, period_start: datetime, threshold: int) -> bool:
        """The same instant written in another time zone is the same period (stored in UTC)."""
        result = await self._tx.execute(
            _insert(self._tx, quota_notices)
            .values(user_id=user_id, period_start=period_start, threshold=threshold)
            .on_conflict_do_nothing()
            .returning(quota_notices.c.threshold)
        )
        return result.first() is not None


class SqlGrantRepository:
    def __init__(self, tx: SqlTransaction) -> None:
        self._tx = tx

    async def add(self, grant: Grant) -> None:
        await self._tx.execute(_ADD_GRANT, _grant_values(grant))

    async def get(self, grant_id: UUID) -> Grant | None:
        row = (await self._tx.read(_GRANT, {"key": grant_id})).first()
        return None if row is None else _grant_from_row(row)

    async def for_period(self, user_id: UUID, period_start: datetime) -> Sequence[Grant]:
        rows = await self._tx.read(_GRANTS_OF_PERIOD, {"user_id": user_id, "period_start": period_start})
        return [_grant_from_row(row) for row in rows]


def _grant_values(grant: Grant) -> dict[str, Any]:
    return {
        "id": grant.id,
        "user_id": grant.user_id,
        "tokens": grant.tokens,
        "reason": grant.reason,
        "granted_by": grant.granted_by,
        "period_start": grant.period_start,
        "period_end": grant.period_end,
        "created_at": grant.created_at,
    }


def _grant_from_row(row: Row[Any]) -> Grant:
    return Grant(
        id=row.id,
        user_id=row.user_id,
        tokens=row.tokens,
        reason=row.reason,
        granted_by=row.granted_by,
        period_start=row.period_start,
        period_end=row.period_end,
        created_at=row.created_at,
    )
