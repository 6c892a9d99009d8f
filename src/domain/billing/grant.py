"""A grant: tokens an admin adds to one user's limit for the current period, with who granted them and why.
It ends with the period it was made in (a grant for period P does not count in P + 1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.shared.errors import InvalidInput
from domain.shared.ids import new_id

MAX_GRANT_TOKENS = 100_000_000
MAX_REASON_LENGTH = 500


@dataclass(frozen=True, kw_only=True)
class Grant:
    id: UUID
    user_id: UUID
    tokens: int
    reason: str
    granted_by: UUID | None
    """The admin who granted it (None: an operator on the command line)."""
    period_start: datetime
    period_end: datetime
    created_at: datetime

    @classmethod
    def new(
        cls,
        user_id: UUID,
        tokens: int,
        reason: str,
        granted_by: UUID | None,
        period: tuple[datetime, datetime],
        now: datetime,
    ) -> Grant:
        check_grant(tokens, reason)
        return cls(
            id=new_id(),
            user_id=user_id,
            tokens=tokens,
            reason=reason.strip(),
            granted_by=granted_by,
            period_start=period[0],
            period_end=period[1],
            created_at=now,
        )


def check_grant(tokens: int, reason: str) -> None:
    if isinstance(tokens, bool) or not 1 <= tokens <= MAX_GRANT_TOKENS:
        raise InvalidInput("tokens", f"Grant 1 to {MAX_GRANT_TOKENS:,} tokens.")
    if not 1 <= len(reason.strip()) <= MAX_REASON_LENGTH:
        raise InvalidInput("reason", f"Give a reason of 1 to {MAX_REASON_LENGTH} characters.")
