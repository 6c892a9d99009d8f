"""The web client as one Litestar router, mounted by the app factory next to the API."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler

from entrypoints.bootstrap import Container
from entrypoints.http.unsubscribe import one_click_unsubscribe
from entrypoints.web.admin_pages import AdminPages
from entrypoints.web.app_pages import AccountPages, ChatPages
from entrypoints.web.assets import static_file
from entrypoints.web.auth_pages import AuthPages
from entrypoints.web.context import WebState, provide_visit
from entrypoints.web.errors import web_exception_handlers


def web_router() -> Router:
    return Router(
        path="/",
        route_handlers=[AuthPages, ChatPages, AccountPages, AdminPages, one_click_unsubscribe],
        dependencies={"visit": Provide(provide_visit)},
        exception_handlers=web_exception_handlers(),
        include_in_schema=False,
    )


def web_routes() -> list[Router | HTTPRouteHandler]:
    return [web_router(), static_file]


def web_state_of(container: Container) -> WebState:
    return WebState(container)
