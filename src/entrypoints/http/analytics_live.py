"""WebSocket /api/analytics/live: the live counters, pushed to an admin.

The credential (an access token or an API key of an admin) comes in the `Authorization: Bearer` header or the
`?token=` query parameter (browsers cannot set headers on a WebSocket). Anyone else is refused before the
upgrade: the socket is closed before it is accepted, which the server answers with HTTP 403 (a client that
gets as far as a close frame sees code 4403). An admin gets a snapshot at once and then every
PARLEY_LIVE_INTERVAL_SECONDS (2 s; at most 5). The credential is checked again before each snapshot, so a
connection ends (4403) as soon as it stops working: the account disabled or demoted, the session revoked, the
token expired. Messages from the client are ignored."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from litestar import WebSocket, websocket

from application.identity.guards import require_admin
from application.shared.live import LiveSnapshot
from domain.shared.errors import DomainError
from entrypoints.bootstrap import Container

log = logging.getLogger("parley.analytics")
LIVE_PATH = "/api/analytics/live"
REFUSED = 4403
"""Not an admin, or no working credential (the 4000 + HTTP status convention)."""
GOING_AWAY = 1001
UNAVAILABLE = 1011


@websocket(LIVE_PATH)
async def analytics_live(socket: WebSocket[Any, Any, Any]) -> None:
    container: Container = socket.app.state.container
    credential = _credential(socket)
    if not await _is_admin(container, credential):
        await socket.close(code=REFUSED, reason="admins only")  # not accepted: the server answers HTTP 403
        return
    await socket.accept()
    disconnected = asyncio.ensure_future(_until_disconnected(socket))
    try:
        await _push(socket, container, credential, disconnected)
    finally:
        disconnected.cancel()


async def _push(
    socket: WebSocket[Any, Any, Any], container: Container, credential: str, disconnected: asyncio.Future[None]
) -> None:
    interval = container.settings.live_interval_seconds
    drain = socket.app.state.drain
    while True:
        try:
            snapshot = await container.live.snapshot()
        except Exception as exc:
            log.warning("analytics.live_unavailable", extra={"error": type(exc).__name__})
            await socket.close(code=UNAVAILABLE, reason="live counters unavailable, try again")
            return
        await socket.send_json(snapshot_message(snapshot))
        done, _ = await asyncio.wait({disconnected}, timeout=interval)
        if done:
            return
        if drain.started:
            await socket.close(code=GOING_AWAY, reason="server shutting down")
            return
        if not await _is_admin(container, credential):
            await socket.close(code=REFUSED, reason="the credential no longer works")
            return


def snapshot_message(snapshot: LiveSnapshot) -> dict[str, Any]:
    return {
        "type": "snapshot",
        "at": snapshot.at,
        "active_streams": snapshot.active_streams,
        "messages_last_minute": snapshot.messages_last_minute,
        "tokens_last_minute": snapshot.tokens_last_minute,
        "errors_last_minute": snapshot.errors_last_minute,
        "signups_today": snapshot.signups_today,
    }


def _credential(socket: WebSocket[Any, Any, Any]) -> str:
    scheme, _, token = socket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return str(socket.query_params.get("token") or "").strip()


async def _is_admin(container: Container, credential: str) -> bool:
    if not credential:
        return False
    try:
        require_admin(await container.identity.authenticate(credential))
    except DomainError:
        return False
    return True


async def _until_disconnected(socket: WebSocket[Any, Any, Any]) -> None:
    while (await socket.receive())["type"] != "websocket.disconnect":
        pass
