"""Litestar dependencies: each context's use cases, the settings, the rate limits and the authenticated
principal. Controllers name what they use (`identity`, `conversation`, `billing`...), never the container."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple, TypeAlias, TypeVar

from litestar import Request
from litestar.datastructures import State
from litestar.di import Dependency
from litestar.params import SkipValidationMarker

from application.analytics.reports import AnalyticsReports
from application.conversation.ports import StreamLog
from application.identity.dto import Principal
from domain.identity.errors import Unauthenticated
from entrypoints.bootstrap import BillingUseCases, Container, ConversationUseCases, IdentityUseCases
from entrypoints.http.rate_limits import RateLimits
from entrypoints.settings import Settings

T = TypeVar("T")
Injected: TypeAlias = Annotated[T, SkipValidationMarker(), Dependency(kind="named")]
"""A controller's parameter filled by name from DEPENDENCIES (a service is handed over as it is, not validated
like a request value)."""


def _container(state: State) -> Container:
    container: Container = state.container
    return container


def provide_identity(state: State) -> IdentityUseCases:
    return _container(state).identity


def provide_conversation(state: State) -> ConversationUseCases:
    return _container(state).conversation


def provide_billing(state: State) -> BillingUseCases:
    return _container(state).billing


def provide_analytics(state: State) -> AnalyticsReports:
    return _container(state).analytics_reports


def provide_settings(state: State) -> Settings:
    return _container(state).settings


def provide_stream_log(state: State) -> StreamLog:
    return _container(state).stream_log


DEPENDENCIES = {
    "identity": provide_identity,
    "conversation": provide_conversation,
    "billing": provide_billing,
    "analytics": provide_analytics,
    "settings": provide_settings,
    "stream_log": provide_stream_log,
}
"""Every controller dependency by name (registered on the app, resolved synchronously)."""


def provide_rate_limits(state: State) -> RateLimits:
    limits: RateLimits = state.rate_limits
    return limits


class ChatServices(NamedTuple):
    conversation: ConversationUseCases
    settings: Settings
    stream_log: StreamLog
    rate_limits: RateLimits


def hot_path_services(request: Request[Any, Any, Any]) -> ChatServices:
    """What the chat routes use, read from the app's state rather than injected: with the principal as their
    only dependency, Litestar resolves it directly instead of starting a task group for several (a few percent
    of a chat request's CPU)."""
    state = request.app.state
    container = _container(state)
    return ChatServices(container.conversation, container.settings, container.stream_log, provide_rate_limits(state))


def bearer_token(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send `Authorization: Bearer <access token or API key>`.")
    return token.strip()


def api_key_or_bearer_token(request: Request[Any, Any, Any]) -> str:
    """Anthropic's clients send their key in `x-api-key`: the Messages API routes (and only they) take it there,
    else from `Authorization: Bearer` like every other route."""
    api_key = request.headers.get("x-api-key", "").strip()
    if api_key:
        return api_key
    try:
        return bearer_token(request)
    except Unauthenticated:
        raise Unauthenticated("Send `x-api-key: <API key>` or `Authorization: Bearer <API key>`.") from None


async def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    return await provide_identity(state).authenticate(bearer_token(request))


async def provide_api_key_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    """The principal of the Messages API routes: `x-api-key`, or the Bearer token."""
    return await provide_identity(state).authenticate(api_key_or_bearer_token(request))
