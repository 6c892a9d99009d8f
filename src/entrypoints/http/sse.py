"""Server-sent events for /api/chat: numbered frames (`id:` increasing within a stream), and a recorder
that keeps them in the StreamLog so a client that lost its connection can resume with Last-Event-ID."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import msgspec

from application.conversation.dto import ReplyDelta, ReplyEvent, ReplyFailed, ReplyFinished, ReplyStarted
from application.conversation.ports import LoggedEvent, StreamLog
from application.conversation.send_chat import ChatReply
from domain.conversation.errors import AccountRevoked
from entrypoints.http.conversation_schemas import QuotaOut, UsageOut
from entrypoints.http.shutdown import Drain

log = logging.getLogger("parley.sse")
_encode = msgspec.json.Encoder().encode
FINAL_EVENTS = ("done", "error")


def frame(event_id: int, event: str, data: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, event.encode(), data)


def encode_event(event: ReplyEvent) -> tuple[str, bytes]:
    if isinstance(event, ReplyDelta):
        return "delta", _encode({"text": event.text})
    if isinstance(event, ReplyStarted):
        return "start", _encode(
            {
                "conversation_id": event.conversation_id,
                "message_id": event.message_id,
                "model": event.model,
                "provider": event.provider,
            }
        )
    if isinstance(event, ReplyFinished):
        usage = event.message.usage
        return "done", _encode(
            {
                "message_id": event.message.id,
                "usage": UsageOut(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
                "cached": event.message.cached,
                "finish_reason": "length" if event.finish_reason == "length" else "stop",  # /api/chat's two reasons
                "quota": QuotaOut.of(event.quota),
            }
        )
    assert isinstance(event, ReplyFailed)
    error = event.error
    status = 401 if isinstance(error, AccountRevoked) else 503
    title = HTTPStatus(status).phrase
    return "error", _encode({"type": error.code, "title": title, "status": status, "detail": error.detail})


class StreamRecorder:
    """Appends frames to the StreamLog from a background task, so the response never waits on it."""

    def __init__(self, stream_log: StreamLog, stream_key: str) -> None:
        self._log = stream_log
        self._key = stream_key
        self._queue: asyncio.Queue[tuple[LoggedEvent, bool] | None] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._run())

    def record(self, event_id: int, event: str, data: bytes) -> None:
        self._queue.put_nowait((LoggedEvent(event_id, event, data.decode()), event in FINAL_EVENTS))

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            try:
                await self._log.append(self._key, item[0], final=item[1])
            except Exception:
                log.warning("sse.log_append_failed", extra={"stream": self._key}, exc_info=True)


SHUTTING_DOWN = _encode(
    {
        "type": "server-shutting-down",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "The server is restarting; what was written so far is kept and charged. Send the message again.",
    }
)


async def reply_frames(reply: ChatReply, recorder: StreamRecorder | None, drain: Drain) -> AsyncIterator[bytes]:
    event_id = 0
    held = b""  # the `start` frame goes out with the next one (already received): one write, the first text in it
    try:
        async for event in reply.events():
            event_id += 1
            if drain.started and isinstance(event, ReplyDelta):  # end with a final event, not a cut stream
                name, data = "error", SHUTTING_DOWN
            else:
                name, data = encode_event(event)
            if recorder is not None:
                recorder.record(event_id, name, data)
            if name == "start":
                held = frame(event_id, name, data)
                continue
            yield held + frame(event_id, name, data) if held else frame(event_id, name, data)
            held = b""
            if name in FINAL_EVENTS:
                break
        if held:
            yield held
    finally:
        await reply.aclose()
        if recorder is not None:
            recorder.close()


async def resumed_frames(stream_log: StreamLog, stream_key: str, after_id: int) -> AsyncIterator[bytes]:
    async for event in stream_log.follow(stream_key, after_id):
        yield frame(event.id, event.event, event.data.encode())


def stream_key(user_id: Any, message_id: Any) -> str:
    return f"{user_id}:{message_id}"
