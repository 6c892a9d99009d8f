"""/api/admin: the accounts and the audit log, for admins only (anyone else: 403)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from application.identity.admin_users import UserChange
from application.identity.announcements import NewAnnouncement
from application.identity.dto import Principal
from application.shared.audit import AuditQuery
from domain.billing.model import FREE
from domain.identity.announcement import Audience
from domain.identity.model import Role
from domain.identity.ports import UserQuery
from entrypoints.bootstrap import BillingUseCases, IdentityUseCases
from entrypoints.http.admin_schemas import (
    AdminUsageOut,
    AdminUserDetailOut,
    AdminUserOut,
    AdminUserPageOut,
    AnnouncementBody,
    AnnouncementOut,
    AnnouncementPageOut,
    AuditEntryOut,
    AuditPageOut,
    GrantBody,
    GrantOut,
    RoleName,
    UserChangeBody,
)
from entrypoints.http.billing_schemas import SubscriptionOut
from entrypoints.http.dependencies import Injected, provide_principal
from entrypoints.http.problems import errors

Limit = Annotated[int, QueryParameter(ge=1, le=100, description="page size, 1..100")]
Cursor = Annotated[str | None, QueryParameter(max_length=200, description="next_cursor of the previous page")]
Text = Annotated[str | None, QueryParameter(max_length=254, description="part of the email or name, case-insensitive")]
Plan = Annotated[str | None, QueryParameter(max_length=64)]
Action = Annotated[str | None, QueryParameter(max_length=64, description="e.g. user.disabled")]
RoleFilter = Annotated[RoleName | None, QueryParameter()]
Status = Annotated[Literal["active", "disabled"] | None, QueryParameter()]
Ref = Annotated[UUID | None, QueryParameter()]


class AdminController(Controller):
    path = "/api/admin"
    tags = ["admin"]
    dependencies = {"principal": Provide(provide_principal)}

    @get("/users", responses=errors(401, 403, 422))
    async def list_users(
        self,
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
        q: Text = None,
        plan: Plan = None,
        role: RoleFilter = None,
        status: Status = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> AdminUserPageOut:
        """Accounts, newest first."""
        query = UserQuery(
            text=q or None,
            plan=plan,
            role=None if role is None else Role(role),
            disabled=None if status is None else status == "disabled",
        )
        page = await identity.list_users(principal, query, limit, cursor)
        return AdminUserPageOut([AdminUserOut.of_admin(item) for item in page.items], page.next_cursor)

    @get("/users/{user_id:uuid}", responses=errors(401, 403, 404))
    async def get_user(
        self,
        user_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
        billing: Injected[BillingUseCases],
    ) -> AdminUserDetailOut:
        """One account, with how many sessions and API keys it has active, its paid subscription (null on the
        free plan) and its usage of the current period. Each context answers for its own part."""
        found = await identity.get_user(principal, user_id)  # admins only: checked before anything else is read
        subscription = await billing.get_subscription(user_id)
        usage = await billing.get_usage(user_id, found.user.plan)
        return AdminUserDetailOut.of_detail(
            found,
            None if subscription.plan == FREE else SubscriptionOut.of(subscription),
            AdminUsageOut.of(usage),
        )

    @patch("/users/{user_id:uuid}", responses=errors(401, 403, 404, 409, 422))
    async def change_user(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[UserChangeBody],
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
    ) -> AdminUserOut:
        """Change the role, or disable (every session and API key ends at once) or enable the account. An admin
        cannot disable or demote themselves (409 cannot-change-self)."""
        change = UserChange(role=None if data.role is None else Role(data.role), disabled=data.disabled)
        return AdminUserOut.of_admin(await identity.change_user(principal, user_id, change))

    @post("/users/{user_id:uuid}/grants", status_code=201, responses=errors(401, 403, 404, 422))
    async def grant_tokens(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[GrantBody],
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
        billing: Injected[BillingUseCases],
    ) -> GrantOut:
        """Add tokens to the user's limit for the current period, at once (the usage pages and the quota check of
        the next chat count them on every process); the grant ends with the period. Audit-logged (`user.grant`)."""
        await identity.get_user(principal, user_id)  # admins only (403), and the user exists (404)
        grant = await billing.grant_tokens(user_id, data.tokens, data.reason, principal.user.id)
        return GrantOut.of(grant)

    @get("/audit", responses=errors(401, 403, 422))
    async def list_audit(
        self,
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
        actor_id: Ref = None,
        target_id: Ref = None,
        action: Action = None,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> AuditPageOut:
        """Every admin change and `parley users` command, newest first. Nothing changes or deletes an entry."""
        query = AuditQuery(actor_id=actor_id, target_id=target_id, action=action)
        page = await identity.list_audit(principal, query, limit, cursor)
        return AuditPageOut([AuditEntryOut.of(entry) for entry in page.items], page.next_cursor)

    @post("/announcements", status_code=202, responses=errors(401, 403, 422))
    async def create_announcement(
        self,
        data: JSONBody[AnnouncementBody],
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
    ) -> AnnouncementOut:
        """Queue an email to every verified, enabled account of the audience that has not unsubscribed; the worker
        sends it in batches, at most one email per recipient. Audit-logged (`announcement.create`)."""
        new = NewAnnouncement(data.subject, data.body_markdown, Audience(data.audience))
        return AnnouncementOut.of(await identity.create_announcement(principal, new))

    @get("/announcements", responses=errors(401, 403, 422))
    async def list_announcements(
        self,
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> AnnouncementPageOut:
        """Announcements, newest first, with how many emails went so far."""
        page = await identity.list_announcements(principal, limit, cursor)
        return AnnouncementPageOut([AnnouncementOut.of(item) for item in page.items], page.next_cursor)

    @get("/announcements/{announcement_id:uuid}", responses=errors(401, 403, 404))
    async def get_announcement(
        self,
        announcement_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
    ) -> AnnouncementOut:
        """One announcement's progress."""
        return AnnouncementOut.of(await identity.get_announcement(principal, announcement_id))
