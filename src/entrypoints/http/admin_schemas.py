"""Wire shapes of /api/admin (docs/api.md "Admin")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec

from application.billing.queries import BillingUsage
from application.identity.admin_users import AdminUser, AdminUserDetail
from application.shared.audit import AuditEntry
from domain.billing.grant import MAX_GRANT_TOKENS, MAX_REASON_LENGTH, Grant
from domain.identity.announcement import BODY_MAX_LENGTH, SUBJECT_MAX_LENGTH, Announcement
from entrypoints.http.billing_schemas import SubscriptionOut
from entrypoints.http.identity_schemas import UserOut

RoleName = Literal["user", "admin"]


class UserChangeBody(msgspec.Struct):
    role: RoleName | None = None
    disabled: bool | None = None


class GrantBody(msgspec.Struct):
    tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_GRANT_TOKENS, description="1 to 100,000,000")]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REASON_LENGTH, description="1 to 500 characters")]


class GrantOut(msgspec.Struct):
    id: UUID
    user_id: UUID
    tokens: int
    reason: str
    granted_by: UUID | None
    """The admin who granted it (null: the command line)."""
    period_end: datetime
    """The grant ends with the period it was made in."""
    created_at: datetime

    @classmethod
    def of(cls, grant: Grant) -> GrantOut:
        return cls(
            grant.id, grant.user_id, grant.tokens, grant.reason, grant.granted_by, grant.period_end, grant.created_at
        )


class AdminUserOut(UserOut):
    disabled: bool
    last_active_at: datetime | None
    """When a session of the user was last opened or refreshed (null: never signed in)."""

    @classmethod
    def of_admin(cls, found: AdminUser) -> AdminUserOut:
        return cls(**_admin_fields(found))


class AdminUsageOut(msgspec.Struct):
    period_start: datetime
    period_end: datetime
    limit: int
    used: int
    remaining: int

    @classmethod
    def of(cls, usage: BillingUsage) -> AdminUsageOut:
        return cls(usage.period_start, usage.period_end, usage.token_quota, usage.tokens_used, usage.remaining)


class AdminUserDetailOut(AdminUserOut):
    sessions: int
    """Active sessions."""
    api_keys: int
    """API keys not revoked."""
    subscription: SubscriptionOut | None
    """The paid subscription; null on the free plan."""
    usage: AdminUsageOut
    """Tokens of the current period."""

    @classmethod
    def of_detail(
        cls, found: AdminUserDetail, subscription: SubscriptionOut | None, usage: AdminUsageOut
    ) -> AdminUserDetailOut:
        fields = _admin_fields(found)
        return cls(**fields, sessions=found.sessions, api_keys=found.api_keys, subscription=subscription, usage=usage)


def _admin_fields(found: AdminUser) -> dict[str, Any]:
    user = UserOut.of(found.user)
    return {**msgspec.structs.asdict(user), "disabled": found.user.disabled, "last_active_at": found.last_active_at}


class AdminUserPageOut(msgspec.Struct):
    items: list[AdminUserOut]
    next_cursor: str | None


class AuditEntryOut(msgspec.Struct):
    id: UUID
    actor: str
    actor_id: UUID | None
    action: str
    target_id: UUID | None
    details: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            entry.id, entry.actor, entry.actor_id, entry.action, entry.target_id, dict(entry.details), entry.created_at
        )


class AuditPageOut(msgspec.Struct):
    items: list[AuditEntryOut]
    next_cursor: str | None


AudienceName = Literal["all", "free", "plus", "pro"]


class AnnouncementBody(msgspec.Struct):
    subject: Annotated[
        str, msgspec.Meta(min_length=1, max_length=SUBJECT_MAX_LENGTH, description="1 to 200 characters")
    ]
    body_markdown: Annotated[
        str, msgspec.Meta(min_length=1, max_length=BODY_MAX_LENGTH, description="Markdown, 1 to 50,000 characters")
    ]
    audience: AudienceName


class AnnouncementOut(msgspec.Struct):
    id: UUID
    subject: str
    audience: str
    status: Literal["queued", "sending", "sent"]
    recipients: int
    """Accounts in the audience when it was queued."""
    sent: int
    """Emails sent so far."""
    created_at: datetime

    @classmethod
    def of(cls, announcement: Announcement) -> AnnouncementOut:
        status: Any = announcement.status.value
        return cls(
            announcement.id,
            announcement.subject,
            announcement.audience.value,
            status,
            announcement.recipients,
            announcement.sent,
            announcement.created_at,
        )


class AnnouncementPageOut(msgspec.Struct):
    items: list[AnnouncementOut]
    next_cursor: str | None
