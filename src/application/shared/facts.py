"""Analytics facts: what happened, recorded by the context where it happened, in the same unit of work as the
change itself (a rolled-back change records no fact, a committed one always has its fact).

The `analytics_facts` table is the analytics context's outbox: contexts append to it inside their transaction
through `uow.facts` (the chat path through ChatStore.record_reply), and the export job drains it into
date-partitioned Parquet. A fact's id is unique: a job that runs twice and records the same fact gives it the
same id (`fact_id(kind, key)`), and the second record is ignored, so nothing is counted twice.

A fact carries what analytics needs and nothing secret: ids, plans, amounts, token counts, timings; never a
message's text, an email address, a token or a key. `data` holds the kind's own fields (FACT_FIELDS), each a
str, int, float, bool or None, so every kind exports to one typed Parquet schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol
from uuid import NAMESPACE_URL, UUID, uuid5

from domain.shared.ids import new_id


class FactKind(StrEnum):
    USER_SIGNED_UP = "user.signed_up"
    USER_VERIFIED = "user.verified"
    USER_SIGNED_IN = "user.signed_in"
    USER_DISABLED = "user.disabled"
    MESSAGE_REPLIED = "message.replied"
    SUBSCRIPTION_STARTED = "subscription.started"
    SUBSCRIPTION_UPGRADED = "subscription.upgraded"
    SUBSCRIPTION_DOWNGRADED = "subscription.downgraded"
    SUBSCRIPTION_CANCELED = "subscription.canceled"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    SUBSCRIPTION_PAST_DUE = "subscription.past_due"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_REFUNDED = "payment.refunded"


FieldType = Literal["str", "int", "float", "bool"]

_SUBSCRIPTION_FIELDS: Mapping[str, FieldType] = {
    "subscription_id": "str",
    "plan": "str",
    "previous_plan": "str",  # the plan before an upgrade or downgrade (None otherwise)
    "price_cents": "int",  # the monthly list price of `plan`, in the currency's minor unit
    "currency": "str",
    "status": "str",
}
_PAYMENT_FIELDS: Mapping[str, FieldType] = {
    "payment_id": "str",
    "amount_cents": "int",  # positive; a refund's is what went back to the customer
    "currency": "str",
    "plan": "str",
}

FACT_FIELDS: Mapping[FactKind, Mapping[str, FieldType]] = {
    FactKind.USER_SIGNED_UP: {},
    FactKind.USER_VERIFIED: {},
    FactKind.USER_SIGNED_IN: {},
    FactKind.USER_DISABLED: {},
    FactKind.MESSAGE_REPLIED: {
        "conversation_id": "str",
        "plan": "str",  # the user's plan when the reply ran
        "model": "str",
        # The provider that answered (the one that failed last when none did); a cached reply keeps the
        # provider of the reply it replays and sets `cached`.
        "provider": "str",
        "prompt_tokens": "int",
        "completion_tokens": "int",
        # What the provider charges for the reply, in millionths of a dollar, at the price in force then.
        "cost_micros": "int",
        "latency_ms": "int",
        "ttft_ms": "int",  # time to the first token (None when no token came)
        "failovers": "int",  # providers tried and abandoned before the one that answered
        "cached": "bool",
        "finish_reason": "str",  # stop, length, cancelled or error
        "error": "str",  # the error's code when the reply failed, else None
    },
    FactKind.SUBSCRIPTION_STARTED: _SUBSCRIPTION_FIELDS,
    FactKind.SUBSCRIPTION_UPGRADED: _SUBSCRIPTION_FIELDS,
    FactKind.SUBSCRIPTION_DOWNGRADED: _SUBSCRIPTION_FIELDS,
    FactKind.SUBSCRIPTION_CANCELED: _SUBSCRIPTION_FIELDS,
    FactKind.SUBSCRIPTION_RENEWED: _SUBSCRIPTION_FIELDS,
    FactKind.SUBSCRIPTION_PAST_DUE: _SUBSCRIPTION_FIELDS,
    FactKind.PAYMENT_SUCCEEDED: _PAYMENT_FIELDS,
    FactKind.PAYMENT_FAILED: _PAYMENT_FIELDS,
    FactKind.PAYMENT_REFUNDED: _PAYMENT_FIELDS,
}
"""Each kind's fields beside the common ones (id, kind, occurred_at, user_id). A field left out of a fact's
`data` is None."""

_FACT_NAMESPACE = uuid5(NAMESPACE_URL, "https://parley.dev/analytics/facts")


def fact_id(kind: FactKind, key: str) -> UUID:
    """The same id for the same (kind, key), e.g. (payment.succeeded, the payment's id): recording a fact
    twice, from a replayed job, records it once."""
    return uuid5(_FACT_NAMESPACE, f"{kind.value}:{key}")


@dataclass(frozen=True, kw_only=True)
class Fact:
    kind: FactKind
    occurred_at: datetime
    user_id: UUID | None
    data: Mapping[str, str | int | float | bool | None] = field(default_factory=dict)
    id: UUID = field(default_factory=new_id)

    def __post_init__(self) -> None:
        unknown = set(self.data) - set(FACT_FIELDS[self.kind])
        if unknown:
            raise ValueError(f"{self.kind} facts have no field {sorted(unknown)}")

    def row(self) -> dict[str, Any]:
        """Every field of the kind (None where `data` has none), beside the common ones."""
        values: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind.value,
            "occurred_at": self.occurred_at,
            "user_id": self.user_id,
        }
        for name in FACT_FIELDS[self.kind]:
            values[name] = self.data.get(name)
        return values


class FactLog(Protocol):
    """Appended to inside a unit of work (uow.facts); read back by the analytics context."""

    async def record(self, fact: Fact) -> None:
        """Append `fact` with the unit's commit; a fact whose id is already recorded is ignored."""
        ...
