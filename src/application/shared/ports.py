"""Ports every context's use cases need beyond the domain's own: transactions, the outbox, the cache,
rate limits and email. Adapters implement them; only the composition root picks which."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from application.shared.facts import FactLog
from domain.shared.ids import new_id

# --- outbox -------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class OutboxMessage:
    """A job to run after the transaction that wrote it commits. `topic` names the handler."""

    topic: str
    payload: Mapping[str, Any]
    created_at: datetime
    id: UUID = field(default_factory=new_id)
    published_at: datetime | None = None
    done_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    trace_context: str | None = None
    """Opaque to the application: the trace the message was written in, which a store that supports tracing
    fills in when it writes the message, so the job continues that trace."""


class Outbox(Protocol):
    """Written inside a unit of work; read by the relay and by the job runner."""

    async def add(self, message: OutboxMessage) -> None: ...
    async def get(self, message_id: UUID) -> OutboxMessage | None: ...
    async def lock(self, message_id: UUID) -> OutboxMessage | None:
        """`get`, holding a row lock until the transaction ends where the store has them."""
        ...

    async def claim_unpublished(self, limit: int) -> Sequence[OutboxMessage]:
        """Unpublished messages, oldest first, locked for this transaction where the store can."""
        ...

    async def count_unpublished(self) -> int:
        """How many messages wait to be published (read through the pending rows' index: cheap)."""
        ...

    async def oldest_unpublished_at(self) -> datetime | None:
        """When the oldest message still waiting to be published was written (None when none waits)."""
        ...

    async def update(self, message: OutboxMessage) -> None: ...


class UnitOfWork(Protocol):
    """One transaction. `async with uow:` begins it; leaving without `commit()` rolls it back."""

    outbox: Outbox

    @property
    def facts(self) -> FactLog:
        """Analytics facts, appended with this unit's commit (application/shared/facts.py)."""
        ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class MessagePublisher(Protocol):
    """Hands a committed outbox message to the job queue (Dramatiq). Raises if the broker is down."""

    async def publish(self, message_id: UUID, topic: str) -> None: ...


# --- cache --------------------------------------------------------------------------------------


class Cache(Protocol):
    """A shared key/value store with expiry (in-process, or Redis across processes)."""

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def ping(self) -> bool: ...


# --- rate limits --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    """Seconds until the oldest counted request leaves the window (0 when none is counted)."""

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_seconds)


class RateLimiter(Protocol):
    """A sliding-window counter, atomic across every process that shares the store."""

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateLimitDecision:
        """Count one request against `key` if the window has room; say what is left either way."""
        ...


# --- email --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailMessage:
    to: str
    subject: str
    text: str
    html: str
    message_id: str | None = None
    """A stable id (the outbox message's), so a retried send is recognisable downstream."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Further header fields (List-Unsubscribe, ...), written as given; a line break in one is refused."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class EmailRenderer(Protocol):
    def render(self, template: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
        """Render `template` to (subject, text body, html body)."""
        ...
