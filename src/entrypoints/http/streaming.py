"""The streamed chat responses (SSE on /api/chat and /v1/chat/completions): Litestar's `Stream`, sent by a
leaner ASGI response.

Litestar streams through an anyio task group of two tasks (the body, and a listener for the client's
disconnect) with its cancel scopes: a few percent of a streamed chat request's CPU. This one streams in the
request's own task and listens in one asyncio task; a client that goes away cancels the streaming (which
cancels the provider call and accounts for what was produced), exactly as before."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
"""No caching, and no buffering by a proxy (nginx honours X-Accel-Buffering): each event goes out at once."""


class EventStream(Stream):
    """A response of server-sent events (`text/event-stream`, never cached or buffered on the way)."""

    def __init__(self, content: Any) -> None:
        super().__init__(content, media_type="text/event-stream", headers=SSE_HEADERS)

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        response = super().to_asgi_response(*args, **kwargs)
        assert type(response) is ASGIStreamingResponse
        # Litestar's response as it built it, sent by the subclass below: same slots, only `send_body` differs.
        response.__class__ = _StreamingResponse
        return response


class _StreamingResponse(ASGIStreamingResponse):
    __slots__ = ()

    async def send_body(self, send: Send, receive: Receive) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        disconnected = False

        async def listen() -> None:
            nonlocal disconnected
            while (await receive())["type"] != "http.disconnect":
                pass
            disconnected = True
            streaming.cancel()

        listener = asyncio.ensure_future(listen())
        try:
            await self._stream(send)
        except asyncio.CancelledError:
            # Cancelled by the listener: the client is gone, and that ends the response quietly. Any other
            # cancellation (the server stopping) goes on.
            if not disconnected or streaming.uncancel() > 0:
                raise
        finally:
            listener.cancel()
