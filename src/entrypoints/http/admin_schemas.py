"""Wire shapes of /api/admin (docs/api.md "Admin")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from application.billing.queries import BillingUsage
from application.identity.admin_users import AdminUser, AdminUserDetail
from application.shared.audit import AuditEntry
from entrypoints.http.billing_schemas import SubscriptionOut
from entrypoints.http.identity_schemas import UserOut

RoleName = Literal["user", "admin"]


class UserChangeBody(msgspec.Struct):
    role: RoleName | None = None
    disabled: bool | None = None


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
