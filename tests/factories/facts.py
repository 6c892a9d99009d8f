"""Analytics facts of any kind, every field of the kind filled with a plausible value of its type."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from polyfactory import Use
from polyfactory.factories import DataclassFactory

from application.shared.facts import FACT_FIELDS, Fact, FactKind, FieldType
from domain.shared.ids import new_id

T0 = datetime(2026, 3, 1, tzinfo=UTC)
_VALUES: dict[FieldType, Any] = {"int": 42, "float": 1.5, "bool": True}


def full_data(kind: FactKind) -> dict[str, Any]:
    return {
        name: _VALUES[field_type] if field_type != "str" else f"{name}-{secrets.token_hex(2)}"
        for name, field_type in FACT_FIELDS[kind].items()
    }


class FactFactory(DataclassFactory[Fact]):
    id = Use(new_id)
    kind = FactKind.MESSAGE_REPLIED
    occurred_at = T0
    user_id = Use(new_id)
    data = Use(dict)

    @classmethod
    def of(cls, kind: FactKind, occurred_at: datetime, **overrides: Any) -> Fact:
        """A fact of `kind` with every field of the kind set."""
        return cls.build(kind=kind, occurred_at=occurred_at, data={**full_data(kind), **overrides})
