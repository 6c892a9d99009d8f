"""/api/analytics: what the facts say about users, chat, revenue and providers, for admins only (anyone else:
403, no token: 401). Every route takes `from` and `to` (dates, both included; default the 30 days ending today,
UTC); the series also `interval` (day, week, month; default day). Bad parameters are 422 naming the field."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import QueryParameter

from application.analytics.reports import AnalyticsReports, Ask
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


async def provide_span(
    admin: NamedDependency[Principal], analytics: Injected[AnalyticsReports], start: From = None, to: To = None
) -> Ask:
    """A question over `from`..`to` (422 naming the field), read once the caller is known to be an admin."""
    return analytics.ask(start, to)


async def provide_series(
    admin: NamedDependency[Principal],
    analytics: Injected[AnalyticsReports],
    start: From = None,
    to: To = None,
    interval: Every = None,
) -> Ask:
    """A series over `from`..`to` by `interval` (422 naming the field), read once the caller is an admin."""
    return analytics.ask(start, to, interval, series=True)


class AnalyticsController(Controller):
    path = "/api/analytics"
    tags = ["analytics"]
    dependencies = {
        "admin": Provide(provide_admin),
        "span": Provide(provide_span),
        "series": Provide(provide_series),
    }

    @get("/users/count", responses=ERRORS)
    async def user_count(self, span: NamedDependency[Ask], analytics: Injected[AnalyticsReports]) -> UserCountOut:
        """Accounts signed up before the range's end, within it, and verified before its end."""
        return UserCountOut.of(span, await analytics.user_count(span))

    @get("/users/growth", responses=ERRORS)
    async def user_growth(self, series: NamedDependency[Ask], analytics: Injected[AnalyticsReports]) -> GrowthOut:
        """Signups per bucket, and the accounts signed up before each bucket's end."""
        return GrowthOut.of(series, await analytics.user_growth(series))

    @get("/users/active", responses=ERRORS)
    async def active_users(self, series: NamedDependency[Ask], analytics: Injected[AnalyticsReports]) -> ActiveOut:
        """Users who sent a message in each bucket, and on the day, 7 and 30 days ending with its last day."""
        return ActiveOut.of(series, await analytics.active_users(series))

    @get("/users/retention", responses=ERRORS)
    async def retention(self, span: NamedDependency[Ask], analytics: Injected[AnalyticsReports]) -> RetentionOut:
        """Weekly signup cohorts of the range: how many of each sent a message in each week since."""
        return RetentionOut.of(span, await analytics.retention(span))

    @get("/chat/messages", responses=ERRORS)
    async def messages(self, series: NamedDependency[Ask], analytics: Injected[AnalyticsReports]) -> MessagesOut:
        """Replies, their senders and tokens per bucket."""
        return MessagesOut.of(series, await analytics.messages(series))

    @get("/chat/by-provider", responses=ERRORS)
    async def messages_by_provider(
        self, series: NamedDependency[Ask], analytics: Injected[AnalyticsReports]
    ) -> ByProviderOut:
        """Replies per provider per bucket (cached replies under the provider of the reply they replay)."""
        return ByProviderOut.of(series, await analytics.messages_by_provider(series))

    @get("/revenue/total", responses=ERRORS)
    async def revenue(self, series: NamedDependency[Ask], analytics: Injected[AnalyticsReports]) -> RevenueOut:
        """Succeeded payments minus refunds, per bucket and in all."""
        return RevenueOut.of(series, await analytics.revenue(series))

    @get("/revenue/mrr", responses=ERRORS)
    async def mrr(self, series: NamedDependency[Ask], analytics: Injected[AnalyticsReports]) -> MrrOut:
        """MRR, paying users and ARPU at each bucket's end; churn over the bucket; LTV."""
        return MrrOut.of(series, await analytics.mrr(series))

    @get("/revenue/margin", responses=ERRORS)
    async def margin(self, series: NamedDependency[Ask], analytics: Injected[AnalyticsReports]) -> MarginOut:
        """Revenue, provider cost and gross margin per plan and in all, per bucket and over the range."""
        return MarginOut.of(series, await analytics.margin(series))

    @get("/providers/usage", responses=ERRORS)
    async def provider_usage(
        self, span: NamedDependency[Ask], analytics: Injected[AnalyticsReports]
    ) -> ProviderUsageOut:
        """Requests, tokens and cost per provider and model (replies served from the cache left out)."""
        return ProviderUsageOut.of(span, await analytics.provider_usage(span))

    @get("/providers/performance", responses=ERRORS)
    async def provider_performance(
        self, span: NamedDependency[Ask], analytics: Injected[AnalyticsReports]
    ) -> ProviderPerformanceOut:
        """Latency and time to first token (p50, p95), errors, failovers and tokens/s per provider and model."""
        return ProviderPerformanceOut.of(span, await analytics.provider_performance(span))
