"""Wire shapes of /api/admin (API.md "Admin")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from application.identity.admin_users import AdminUser, AdminUserDetail
from application.shared.audit import AuditEntry

RoleName = Literal["user", "admin"]


class UserChangeBody(msgspec.Struct):
    role: RoleName | None = None
    disabled: bool | None = None


class AdminUserOut(msgspec.Struct):
    id: UUID
    email: str
    name: str | None
    role: str
    plan: str
    email_verified: bool
    disabled: bool
    created_at: datetime
    last_active_at: datetime | None
    """When a session of the user was last opened or refreshed (null: never signed in)."""

    @classmethod
    def of(cls, found: AdminUser) -> AdminUserOut:
        user = found.user
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role.value,
            plan=user.plan,
            email_verified=user.email_verified,
            disabled=user.disabled,
            created_at=user.created_at,
            last_active_at=found.last_active_at,
        )


class AdminUserDetailOut(AdminUserOut):
    sessions: int = 0
    """Active sessions."""
    api_keys: int = 0
    """API keys not revoked."""

    @classmethod
    def of_detail(cls, found: AdminUserDetail) -> AdminUserDetailOut:
        summary = AdminUserOut.of(found)
        fields = {name: getattr(summary, name) for name in AdminUserOut.__struct_fields__}
        return cls(**fields, sessions=found.sessions, api_keys=found.api_keys)


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
