"""Write coalescing for streamed responses: pieces of a stream that are ready together go out in one write.

A streamed reply is produced piece by piece (an SSE event per text piece), and each ASGI body message would
otherwise cost its own trip through the server and its own socket write: on a fast upstream, whose events
arrive many to a network read, those writes were the largest single cost of a streamed chat. Here a body
piece is queued, and a flush scheduled for the moment the producing task yields to the event loop (to wait
for the upstream, the database, anything): every piece produced until then is written at once. Nothing
waits for a timer, so a piece never leaves later than the producer's next wait; the events on the wire are
the same, only packed into fewer writes.

- The first body piece of a response is written at once (time to first token: the chat routes put the first
  text into that piece).
- Back-pressure holds: a producer that gets more than HIGH_WATER bytes ahead of a slow client waits for the
  write in progress, as it would wait for the socket without coalescing.
- The last body message writes whatever is queued first, in order, and completes the response."""

from __future__ import annotations

import asyncio
from typing import Any

HIGH_WATER = 64 * 1024
Message = dict[str, Any]


class CoalescingMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, CoalescingSend(send))


class CoalescingSend:
    __slots__ = ("_error", "_first", "_flushing", "_parts", "_send", "_size")

    def __init__(self, send: Any) -> None:
        self._send = send
        self._parts: list[bytes] = []
        self._size = 0
        self._first = True
        self._flushing: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        if message.get("more_body", False) and not self._first:
            if self._error is not None:
                raise self._error
            body: bytes = message.get("body", b"")
            if body:
                self._parts.append(body)
                self._size += len(body)
                if self._flushing is None:
                    self._flushing = asyncio.get_running_loop().create_task(self._flush())
                elif self._size >= HIGH_WATER:
                    await asyncio.shield(self._flushing)
            return
        self._first = False
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        if self._error is not None:
            raise self._error
        if self._parts:
            message = {**message, "body": b"".join([*self._parts, message.get("body", b"")])}
            self._parts, self._size = [], 0
        await self._send(message)

    async def _flush(self) -> None:
        try:
            while self._parts:
                body = b"".join(self._parts)
                self._parts, self._size = [], 0
                await self._send({"type": "http.response.body", "body": body, "more_body": True})
        except Exception as exc:  # raised to the producer at its next piece
            self._error = exc
        finally:
            self._flushing = None
