"""The signed-in pages: chat, usage, billing, API keys, account; their forms; and /web/token, which hands the
chat script a short-lived access token for the JSON API (see docs/web.md)."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from application.identity.change_password import ChangePasswordRequest
from application.identity.delete_account import DeleteAccountRequest
from application.identity.dto import Principal
from application.identity.guards import require_verified_email
from application.identity.update_profile import UpdateProfileRequest
from domain.shared.errors import DomainError
from entrypoints.bootstrap import BillingUseCases, ConversationUseCases, IdentityUseCases
from entrypoints.http.billing_schemas import PaymentOut, PlanOut, SubscriptionOut
from entrypoints.http.conversation_schemas import ConversationSummary, MessageOut, ModelOut, UsageReportOut
from entrypoints.http.dependencies import Injected
from entrypoints.http.problems import problem
from entrypoints.http.rate_limits import RateLimits
from entrypoints.settings import Settings
from entrypoints.web.context import Visit
from entrypoints.web.errors import message_of, refuse_bad_text, retry_headers, status_of
from entrypoints.web.security import content_security_policy

Notice = Annotated[str | None, QueryParameter(name="done", required=False)]
CONVERSATIONS_SHOWN = 50
NOTICES = {
    "subscribed": "Your plan has changed.",
    "downgrade": "Your plan changes at the end of the current period.",
    "canceled": "Your subscription is canceled: it ends with the current period.",
    "name": "Your name has been saved.",
    "password": "Your password has been changed; your other sessions were signed out.",
    "revoked": "The key has been revoked.",
    "deleted": "The conversation has been deleted.",
}


def _notice(code: str | None) -> str | None:
    return NOTICES.get(code or "")


def _seconds_left(access_token: str) -> int:
    """The life left in an access token this request has just authenticated (its `exp` claim)."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return max(0, int(claims["exp"]) - int(time.time()))
    except (IndexError, KeyError, ValueError, TypeError):
        return 0


def _period_days(report: UsageReportOut) -> list[tuple[str, int]]:
    """Every day of the period (at most 31) with its tokens, days without usage at 0: the chart's bars."""
    by_date = {day.date: day.total_tokens for day in report.by_day}
    first, last = report.period_start.date(), (report.period_end - timedelta(seconds=1)).date()
    count = min((last - first).days + 1, 31)
    dates = [(first + timedelta(days=n)).isoformat() for n in range(max(count, 0))]
    extra = sorted(set(by_date) - set(dates))  # usage outside the period's calendar days (time zones)
    return [(date, by_date.get(date, 0)) for date in [*dates, *extra]]


class ChatPages(Controller):
    path = ""
    include_in_schema = False

    @get("/chat")
    async def new_chat(
        self, visit: NamedDependency[Visit], conversation: Injected[ConversationUseCases], settings: Injected[Settings]
    ) -> Response[Any]:
        return await self._chat(visit, conversation, settings, None)

    @get("/chat/{conversation_id:uuid}")
    async def open_chat(
        self,
        conversation_id: FromPath[UUID],
        visit: NamedDependency[Visit],
        conversation: Injected[ConversationUseCases],
        settings: Injected[Settings],
    ) -> Response[Any]:
        return await self._chat(visit, conversation, settings, conversation_id)

    async def _chat(
        self, visit: Visit, conversation: ConversationUseCases, settings: Settings, conversation_id: UUID | None
    ) -> Response[Any]:
        principal = visit.require()
        user = principal.user
        page = await conversation.list_conversations(user.id, CONVERSATIONS_SHOWN, None)
        current, messages, current_model = None, [], None
        if conversation_id is not None:
            found = await conversation.get_conversation(user.id, conversation_id)
            current = found.conversation
            messages = [MessageOut.of(m) for m in found.messages]
            current_model = found.conversation.model
        models = [ModelOut.of(entry) for entry in conversation.list_models(user.plan)]
        allowed = [m.id for m in models if m.allowed]
        selected = next(
            (m for m in (current_model, settings.default_model) if m in allowed), allowed[0] if allowed else None
        )
        usage = await conversation.get_usage(user.id, user.plan)
        return visit.render(
            "chat.html",
            title=current.title if current else "New chat",
            conversations=[ConversationSummary.of(c) for c in page.items],
            current=current,
            messages=messages,
            models=models,
            selected_model=selected,
            remaining=usage.quota.remaining,
            notice=_notice(visit.request.query_params.get("done")),
            verify_needed=settings.require_verified_email and not user.email_verified,
        )

    @post("/chat/{conversation_id:uuid}/delete", status_code=200)
    async def delete_chat(
        self,
        conversation_id: FromPath[UUID],
        visit: NamedDependency[Visit],
        conversation: Injected[ConversationUseCases],
    ) -> Response[Any]:
        await visit.form()
        principal = visit.require()
        await conversation.delete_conversation(principal.user.id, conversation_id)
        return visit.redirect("/chat?done=deleted")

    @post("/web/token", status_code=200)
    async def token(self, visit: NamedDependency[Visit]) -> Response[Any]:
        """The browser session's access token for the pages' scripts, which call /api with it as a Bearer
        token (a cookie never authenticates /api). Same-origin fetch only: it needs the X-CSRF-Token header."""
        visit.check_header()
        if visit.signed_in is None:
            return problem(401, "invalid-token", "Sign in again: the session has ended.")
        access = visit.signed_in.access_token
        return visit.json({"access_token": access, "token_type": "bearer", "expires_in": _seconds_left(access)})


class AccountPages(Controller):
    path = ""
    include_in_schema = False

    @get("/usage")
    async def usage(self, visit: NamedDependency[Visit], conversation: Injected[ConversationUseCases]) -> Response[Any]:
        user = visit.require().user
        report = UsageReportOut.of(await conversation.get_usage(user.id, user.plan))
        days = _period_days(report)
        peak = max((tokens for _, tokens in days), default=0)
        return visit.render("usage.html", title="Usage", usage=report, days=days, peak=peak)

    @get("/billing")
    async def billing_page(
        self, visit: NamedDependency[Visit], billing: Injected[BillingUseCases], done: Notice = None
    ) -> Response[Any]:
        return await self._billing(visit, billing, notice=_notice(done))

    async def _billing(
        self, visit: Visit, billing: BillingUseCases, *, status: int = 200, error: str | None = None, **extra: Any
    ) -> Response[Any]:
        user = visit.require().user
        plans = sorted(billing.list_plans(), key=lambda plan: plan.rank)
        subscription = SubscriptionOut.of(await billing.get_subscription(user.id))
        payments = [PaymentOut.of(p) for p in (await billing.list_payments(user.id, 50, None)).items]
        ranks = {plan.id: plan.rank for plan in plans}
        stripe = visit.web.stripe_js
        response = visit.render(
            "billing.html",
            status=status,
            title="Billing",
            plans=[PlanOut.of(plan) for plan in plans],
            ranks=ranks,
            current_rank=ranks.get(subscription.plan, 0),
            subscription=subscription,
            payments=payments,
            error=error,
            stripe=stripe,
            **extra,
        )
        if stripe is not None:
            response.headers["Content-Security-Policy"] = content_security_policy(
                script=stripe.script, frame=stripe.frame, connect=stripe.connect
            )
        return response

    @post("/billing/subscribe", status_code=200)
    async def subscribe(
        self,
        visit: NamedDependency[Visit],
        billing: Injected[BillingUseCases],
        settings: Injected[Settings],
        rate_limits: NamedDependency[RateLimits],
    ) -> Response[Any]:
        form = await visit.form()
        principal = visit.require()
        plan = form.get("plan", "")
        try:
            refuse_bad_text(form)
            await rate_limits.check(visit.request, "billing-change", user_id=str(principal.user.id))
            require_verified_email(principal, required=settings.require_verified_email)
            view = await billing.subscribe(principal.user.id, plan, None)
        except DomainError as error:
            page = await self._billing(visit, billing, status=status_of(error), error=message_of(error))
            return retry_headers(page, error)
        return visit.redirect("/billing?done=" + ("downgrade" if view.pending_plan else "subscribed"))

    @post("/billing/cancel", status_code=200)
    async def cancel(
        self,
        visit: NamedDependency[Visit],
        billing: Injected[BillingUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Response[Any]:
        await visit.form()
        principal = visit.require()
        try:
            await rate_limits.check(visit.request, "billing-change", user_id=str(principal.user.id))
            await billing.cancel(principal.user.id)
        except DomainError as error:
            page = await self._billing(visit, billing, status=status_of(error), error=message_of(error))
            return retry_headers(page, error)
        return visit.redirect("/billing?done=canceled")

    @get("/keys")
    async def keys_page(
        self, visit: NamedDependency[Visit], identity: Injected[IdentityUseCases], done: Notice = None
    ) -> Response[Any]:
        return await self._keys(visit, identity, notice=_notice(done))

    async def _keys(
        self, visit: Visit, identity: IdentityUseCases, *, status: int = 200, **extra: Any
    ) -> Response[Any]:
        principal = visit.require()
        keys = await identity.list_api_keys(principal)
        return visit.render("keys.html", status=status, title="API keys", keys=keys, **extra)

    @post("/keys", status_code=200)
    async def create_key(self, visit: NamedDependency[Visit], identity: Injected[IdentityUseCases]) -> Response[Any]:
        form = await visit.form()
        principal = visit.require()
        try:
            refuse_bad_text(form)
            created = await identity.create_api_key(principal, form.get("name", ""))
        except DomainError as error:
            return await self._keys(visit, identity, status=status_of(error), error=message_of(error))
        # The one time the key is shown: this answer is not cached (Cache-Control: no-store) and not redirected.
        return await self._keys(visit, identity, status=201, created=created)

    @post("/keys/{key_id:uuid}/revoke", status_code=200)
    async def revoke_key(
        self, key_id: FromPath[UUID], visit: NamedDependency[Visit], identity: Injected[IdentityUseCases]
    ) -> Response[Any]:
        await visit.form()
        await identity.revoke_api_key(visit.require(), key_id)
        return visit.redirect("/keys?done=revoked")

    @get("/account")
    async def account_page(self, visit: NamedDependency[Visit], done: Notice = None) -> Response[Any]:
        visit.require()
        return visit.render("account.html", title="Account", notice=_notice(done), errors={})

    def _account_error(self, visit: Visit, error: DomainError, section: str) -> Response[Any]:
        page = visit.render(
            "account.html", status=status_of(error), title="Account", errors={section: message_of(error)}
        )
        return retry_headers(page, error)

    @post("/account/name", status_code=200)
    async def rename(self, visit: NamedDependency[Visit], identity: Injected[IdentityUseCases]) -> Response[Any]:
        form = await visit.form()
        principal = visit.require()
        name = form.get("name", "").strip()
        try:
            refuse_bad_text(form)
            await identity.update_profile(principal, UpdateProfileRequest(name=name or None))
        except DomainError as error:
            return self._account_error(visit, error, "name")
        return visit.redirect("/account?done=name")

    @post("/account/password", status_code=200)
    async def change_password(
        self,
        visit: NamedDependency[Visit],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Response[Any]:
        form = await visit.form()
        principal = visit.require()
        change = ChangePasswordRequest(form.get("current_password", ""), form.get("new_password", ""))
        try:
            refuse_bad_text(form)
            await rate_limits.check(visit.request, "change-password", user_id=str(principal.user.id))
            pair = await identity.change_password(principal, change)
        except DomainError as error:
            return self._account_error(visit, error, "password")
        visit.start_session(pair.access_token, pair.refresh_token)  # the old session died with the old password
        return visit.redirect("/account?done=password")

    @get("/account/export")
    async def export(self, visit: NamedDependency[Visit], identity: Injected[IdentityUseCases]) -> Response[Any]:
        principal: Principal = visit.require()
        document = await identity.export_account(principal)
        response = visit.json(document)
        response.headers["Content-Disposition"] = 'attachment; filename="parley-export.json"'
        return response

    @post("/account/delete", status_code=200)
    async def delete_account(
        self,
        visit: NamedDependency[Visit],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Response[Any]:
        form = await visit.form()
        principal = visit.require()
        try:
            refuse_bad_text(form)
            await rate_limits.check(visit.request, "delete-account", user_id=str(principal.user.id))
            await identity.delete_account(principal, DeleteAccountRequest(password=form.get("password", "")))
        except DomainError as error:
            return self._account_error(visit, error, "delete")
        visit.end_session()
        message = "Your account and conversations have been deleted. Payments are kept for accounting."
        return visit.render("message.html", title="Account deleted", message=message, links="signup")
