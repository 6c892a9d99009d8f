"""Domain events: facts that happened, recorded by aggregates and dispatched through the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from domain.shared.ids import new_id


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    occurred_at: datetime
    event_id: UUID = field(default_factory=new_id)

    @property
    def name(self) -> str:
        return type(self).__name__
