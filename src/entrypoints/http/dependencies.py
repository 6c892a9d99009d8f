"""Litestar dependencies: the container, the rate limits, and the authenticated principal."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from application.identity.dto import Principal
from domain.identity.errors import Unauthenticated
from entrypoints.bootstrap import Container
from entrypoints.http.rate_limits import RateLimits


def provide_container(state: State) -> Container:
    container: Container = state.container
    return container


def provide_rate_limits(state: State) -> RateLimits:
    limits: RateLimits = state.rate_limits
    return limits


def hot_path_services(request: Request[Any, Any, Any]) -> tuple[Container, RateLimits]:
    """The container and the rate limits for the chat routes, read from the app's state rather than injected:
    with the principal as their only dependency, Litestar resolves it directly instead of starting a task
    group for several (a few percent of a chat request's CPU)."""
    state = request.app.state
    return provide_container(state), provide_rate_limits(state)


def bearer_token(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send `Authorization: Bearer <access token or API key>`.")
    return token.strip()


async def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    container: Container = state.container
    return await container.identity.authenticate(bearer_token(request))
