"""The streamed chat responses (SSE on /api/chat and /v1/chat/completions): Litestar's `Stream`, sent by a
leaner ASGI response.

Litestar streams through an anyio task group of two tasks (the body, and a listener for the client's
disconnect) with its cancel scopes: a few percent of a streamed chat request's CPU. This one streams in the
request's own task and listens in one asyncio task; a client that goes away cancels the streaming (which
cancels the provider call and accounts for what was produced), exactly as before."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request
from litestar.enums import MediaType
from litestar.response import Stream
from litestar.response.base import ASGIResponse
from litestar.response.streaming import ASGIStreamingResponse
from litestar.types import Receive, Send
from litestar.utils.helpers import get_enum_string_value


class EventStream(Stream):
    def to_asgi_response(
        self,
        app: Any,
        request: Request[Any, Any, Any],
        *,
        headers: dict[str, str] | None = None,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        **kwargs: Any,
    ) -> ASGIResponse:
        iterator: Any = self.iterator
        return _StreamingResponse(
            background=self.background or kwargs.get("background"),
            content_length=0,
            cookies=self.cookies,
            encoded_headers=kwargs.get("encoded_headers"),
            encoding=self.encoding,
            headers={**headers, **self.headers} if headers is not None else self.headers,
            is_head_response=kwargs.get("is_head_response", False),
            iterator=iterator,
            media_type=get_enum_string_value(media_type or self.media_type or MediaType.TEXT),
            status_code=self.status_code or status_code,
        )


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
