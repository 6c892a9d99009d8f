"""/api/analytics: what the facts say about users, chat, revenue and providers, for admins only (anyone else:
403, no token: 401). Every route takes `from` and `to` (dates, both included; default the 30 days ending today,
UTC); the series also `interval` (day, week, month; default day). Bad parameters are 422 naming the field."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from application.analytics.reports import AnalyticsReports
from application.identity.dto import Principal
from application.identity.guards import require_admin
from entrypoints.http.analytics_schemas import (
    ActiveOut,
    ByProviderOut,
    GrowthOut,
    MarginOut,
    MessagesOut,
    MrrOut,
    ProviderPerformanceOut,
    ProviderUsageOut,
    RetentionOut,
    RevenueOut,
    UserCountOut,
)
from entrypoints.http.dependencies import Injected, provide_principal
from entrypoints.http.problems import errors

From = Annotated[str | None, QueryParameter(name="from", description="first day, YYYY-MM-DD (UTC), included")]
To = Annotated[str | None, QueryParameter(description="last day, YYYY-MM-DD (UTC), included; default today")]
Every = Annotated[str | None, QueryParameter(description="day, week (ISO, from Monday) or month; default day")]
ERRORS = errors(401, 403, 422)


async def provide_admin(request: Request[Any, Any, Any], state: State) -> Principal:
    """The caller, who must be an admin (403 otherwise), checked before any parameter is looked at."""
    principal = await provide_principal(request, state)
    require_admin(principal)
    return principal


class AnalyticsController(Controller):
    path = "/api/analytics"
    tags = ["analytics"]
    dependencies = {"admin": Provide(provide_admin)}

    @get("/users/count", responses=ERRORS)
    async def user_count(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
    ) -> UserCountOut:
        """Accounts signed up before the range's end, within it, and verified before its end."""
        ask = analytics.ask(start, to)
        return UserCountOut.of(ask, await analytics.user_count(ask))

    @get("/users/growth", responses=ERRORS)
    async def user_growth(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
        interval: Every = None,
    ) -> GrowthOut:
        """Signups per bucket, and the accounts signed up before each bucket's end."""
        ask = analytics.ask(start, to, interval, series=True)
        return GrowthOut.of(ask, await analytics.user_growth(ask))

    @get("/users/active", responses=ERRORS)
    async def active_users(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
        interval: Every = None,
    ) -> ActiveOut:
        """Users who sent a message in each bucket, and on the day, 7 and 30 days ending with its last day."""
        ask = analytics.ask(start, to, interval, series=True)
        return ActiveOut.of(ask, await analytics.active_users(ask))

    @get("/users/retention", responses=ERRORS)
    async def retention(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
    ) -> RetentionOut:
        """Weekly signup cohorts of the range: how many of each sent a message in each week since."""
        ask = analytics.ask(start, to)
        return RetentionOut.of(ask, await analytics.retention(ask))

    @get("/chat/messages", responses=ERRORS)
    async def messages(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
        interval: Every = None,
    ) -> MessagesOut:
        """Replies, their senders and tokens per bucket."""
        ask = analytics.ask(start, to, interval, series=True)
        return MessagesOut.of(ask, await analytics.messages(ask))

    @get("/chat/by-provider", responses=ERRORS)
    async def messages_by_provider(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
        interval: Every = None,
    ) -> ByProviderOut:
        """Replies per provider per bucket (cached replies under the provider of the reply they replay)."""
        ask = analytics.ask(start, to, interval, series=True)
        return ByProviderOut.of(ask, await analytics.messages_by_provider(ask))

    @get("/revenue/total", responses=ERRORS)
    async def revenue(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
        interval: Every = None,
    ) -> RevenueOut:
        """Succeeded payments minus refunds, per bucket and in all."""
        ask = analytics.ask(start, to, interval, series=True)
        return RevenueOut.of(ask, await analytics.revenue(ask))

    @get("/revenue/mrr", responses=ERRORS)
    async def mrr(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
        interval: Every = None,
    ) -> MrrOut:
        """MRR, paying users and ARPU at each bucket's end; churn over the bucket; LTV."""
        ask = analytics.ask(start, to, interval, series=True)
        return MrrOut.of(ask, await analytics.mrr(ask))

    @get("/revenue/margin", responses=ERRORS)
    async def margin(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
        interval: Every = None,
    ) -> MarginOut:
        """Revenue, provider cost and gross margin per plan and in all, per bucket and over the range."""
        ask = analytics.ask(start, to, interval, series=True)
        return MarginOut.of(ask, await analytics.margin(ask))

    @get("/providers/usage", responses=ERRORS)
    async def provider_usage(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
    ) -> ProviderUsageOut:
        """Requests, tokens and cost per provider and model (replies served from the cache left out)."""
        ask = analytics.ask(start, to)
        return ProviderUsageOut.of(ask, await analytics.provider_usage(ask))

    @get("/providers/performance", responses=ERRORS)
    async def provider_performance(
        self,
        admin: NamedDependency[Principal],
        analytics: Injected[AnalyticsReports],
        start: From = None,
        to: To = None,
    ) -> ProviderPerformanceOut:
        """Latency and time to first token (p50, p95), errors, failovers and tokens/s per provider and model."""
        ask = analytics.ask(start, to)
        return ProviderPerformanceOut.of(ask, await analytics.provider_performance(ask))
