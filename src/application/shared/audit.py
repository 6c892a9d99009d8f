"""The audit log: an append-only record of who changed what about an account, written in the same unit of
work as the change itself (so a rolled-back change leaves no entry, and a committed one always has one).

Nothing updates or deletes an entry. `details` is a JSON-able mapping of what an operator needs to read the
entry later; it never holds a secret (no password, token or key).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from domain.shared.ids import new_id

ACTOR_CLI = "cli"
"""The `parley` command line: an operator on the host, with no account of their own (actor_id is None)."""
ACTOR_USER = "user"
"""An account (an admin through the API): actor_id is theirs."""

# Actions, `<what>.<verb in the past>`.
USER_CREATED_ADMIN = "user.created_admin"
USER_PROMOTED = "user.promoted"
USER_PASSWORD_RESET = "user.password_reset"
USER_DISABLED = "user.disabled"
USER_ENABLED = "user.enabled"
USER_ROLE_CHANGED = "user.role_changed"
USER_GRANT = "user.grant"
"""Tokens granted to a user for the current period (details: grant_id, tokens, reason, period_end)."""
ANNOUNCEMENT_CREATE = "announcement.create"
"""An announcement queued for an audience (details: subject, audience, recipients)."""
USERS_LISTED = "users.listed"
"""`parley users list` (an operator read every account: details hold the filters)."""


@dataclass(frozen=True, kw_only=True)
class AuditEntry:
    action: str
    target_id: UUID | None
    created_at: datetime
    actor_id: UUID | None = None
    actor: str = ACTOR_CLI
    details: Mapping[str, Any] = field(default_factory=dict)
    id: UUID = field(default_factory=new_id)

    def __post_init__(self) -> None:
        if (self.actor == ACTOR_USER) != (self.actor_id is not None):
            raise ValueError("an entry made by a user names them (actor_id); any other actor has none")


@dataclass(frozen=True, kw_only=True)
class AuditQuery:
    """Which entries to list: those matching every filter given (None matches anything)."""

    actor_id: UUID | None = None
    target_id: UUID | None = None
    action: str | None = None


ALL = AuditQuery()


class AuditLog(Protocol):
    """Appended to inside a unit of work; read newest first, by keyset pages."""

    async def record(self, entry: AuditEntry) -> None: ...

    async def list(
        self, query: AuditQuery = ALL, limit: int = 20, before: tuple[datetime, UUID] | None = None
    ) -> Sequence[AuditEntry]:
        """Entries matching every filter given, newest `created_at` first (ties by id, descending), only
        those strictly older than `before` (the (created_at, id) of the last entry of the previous page)."""
        ...
