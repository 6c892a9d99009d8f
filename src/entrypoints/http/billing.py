"""/api/billing: plans, subscribe, cancel, subscription, usage, payments, invoices and the Stripe webhook."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from application.identity.dto import Principal
from application.identity.guards import require_verified_email
from entrypoints.bootstrap import BillingUseCases
from entrypoints.http.billing_schemas import (
    BillingUsageOut,
    PaymentOut,
    PaymentPageOut,
    PlanList,
    PlanOut,
    Received,
    SubscribeBody,
    SubscriptionOut,
)
from entrypoints.http.dependencies import Injected, provide_principal
from entrypoints.http.problems import errors, problem
from entrypoints.http.rate_limits import RateLimits
from entrypoints.settings import Settings

AUTHED = {"principal": Provide(provide_principal)}
Limit = Annotated[int, QueryParameter(ge=1, le=100)]
Cursor = Annotated[str | None, QueryParameter()]
Signature = Annotated[str, QueryParameter(name="sig")]


class BillingController(Controller):
    path = "/api/billing"
    tags = ["billing"]

    @get("/plans", responses=errors())
    async def plans(self, billing: Injected[BillingUseCases]) -> PlanList:
        """Public: the plans on offer."""
        return PlanList([PlanOut.of(plan) for plan in billing.list_plans()])

    @post("/subscribe", status_code=200, dependencies=AUTHED, responses=errors(401, 402, 403, 422, 429, 503))
    async def subscribe(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SubscribeBody],
        principal: NamedDependency[Principal],
        settings: Injected[Settings],
        billing: Injected[BillingUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> SubscriptionOut:
        """Subscribe, upgrade (at once) or downgrade (at the period end). `status: incomplete` with a
        `client_secret` means the card needs the customer's action (Stripe.js)."""
        await rate_limits.check(request, "billing-change", user_id=str(principal.user.id))
        require_verified_email(principal, required=settings.require_verified_email)
        view = await billing.subscribe(principal.user.id, data.plan, data.payment_method_id)
        return SubscriptionOut.of(view)

    @post("/cancel", status_code=200, dependencies=AUTHED, responses=errors(401, 409, 429, 503))
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        billing: Injected[BillingUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> SubscriptionOut:
        await rate_limits.check(request, "billing-change", user_id=str(principal.user.id))
        return SubscriptionOut.of(await billing.cancel(principal.user.id))

    @get("/subscription", dependencies=AUTHED, responses=errors(401))
    async def subscription(
        self, principal: NamedDependency[Principal], billing: Injected[BillingUseCases]
    ) -> SubscriptionOut:
        return SubscriptionOut.of(await billing.get_subscription(principal.user.id))

    @get("/usage", dependencies=AUTHED, responses=errors(401, 503))
    async def usage(self, principal: NamedDependency[Principal], billing: Injected[BillingUseCases]) -> BillingUsageOut:
        return BillingUsageOut.of(await billing.get_usage(principal.user.id, principal.user.plan))

    @get("/payments", dependencies=AUTHED, responses=errors(401, 422))
    async def payments(
        self,
        principal: NamedDependency[Principal],
        billing: Injected[BillingUseCases],
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> PaymentPageOut:
        page = await billing.list_payments(principal.user.id, limit, cursor)
        return PaymentPageOut([PaymentOut.of(p) for p in page.items], page.next_cursor)

    @get("/invoices/{payment_id:uuid}", responses=errors(404, 422), media_type="text/html")
    async def invoice(
        self, payment_id: FromPath[UUID], sig: Signature, billing: Injected[BillingUseCases]
    ) -> Response[str]:
        """The invoice page of a payment (linked from the payment and the receipt email; the link is signed)."""
        return Response(await billing.show_invoice(payment_id, sig), media_type="text/html")

    @post("/webhooks/stripe", status_code=200, responses=errors(400))
    async def stripe_webhook(
        self,
        request: Request[Any, Any, Any],
        settings: Injected[Settings],
        billing: Injected[BillingUseCases],
    ) -> Response[Any]:
        """Stripe's events, signature checked on the raw body (300 s tolerance). Stored and queued, then answered."""
        secret = settings.stripe_webhook_secret
        if not secret:
            return problem(400, "webhooks-not-configured", "STRIPE_WEBHOOK_SECRET is not set.")
        from adapters.payments.stripe import InvalidSignature, construct_event

        payload = await request.body()
        try:
            event = construct_event(payload, request.headers.get("stripe-signature", ""), secret)
        except InvalidSignature:
            return problem(400, "invalid-signature", "The Stripe-Signature header does not match this payload.")
        # Stored as received (a duplicate is accepted and applied once); the job has the adapter read it.
        await billing.receive_event(event["id"], str(event.get("type", "")), event)
        return Response(Received(received=True), status_code=200)
