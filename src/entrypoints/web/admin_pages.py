"""/admin: the admins' dashboard. The page is a shell rendered here; its script (static/js/admin.js) reads
/api/analytics/*, /api/admin/* and the WebSocket /api/analytics/live with the session's short-lived access token
(POST /web/token), as the chat does. A signed-out visitor is sent to sign in, anyone but an admin gets a 403 page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from domain.identity.model import Role
from entrypoints.web.context import Visit
from entrypoints.web.security import content_security_policy

DEFAULT_RANGE_DAYS = 30
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def live_origin(visit: Visit) -> str | None:
    """The page's own origin as a WebSocket URL (`ws://host:port`, `wss://` over HTTPS), for `connect-src`.
    None when the Host header is not a plain host name (nothing odd is ever written into the policy)."""
    host = visit.request.headers.get("host", "")
    if not _HOST.match(host):
        return None
    return f"{'wss' if visit.secure else 'ws'}://{host}"


class AdminPages(Controller):
    path = ""
    include_in_schema = False

    @get("/admin")
    async def admin_page(self, visit: NamedDependency[Visit]) -> Response[Any]:
        user = visit.require().user
        if user.role is not Role.ADMIN:
            message = "This page is for administrators only."
            return visit.render("error.html", status=403, title="Request refused", message=message)
        today = datetime.now(UTC).date()
        response = visit.render(
            "admin.html",
            title="Admin",
            range_from=(today - timedelta(days=DEFAULT_RANGE_DAYS - 1)).isoformat(),
            range_to=today.isoformat(),
        )
        origin = live_origin(visit)
        response.headers["Content-Security-Policy"] = content_security_policy(connect=(origin,) if origin else ())
        return response
