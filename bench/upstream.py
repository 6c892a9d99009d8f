"""A fast mock OpenAI upstream for the benchmarks: a bare asyncio server speaking just enough HTTP/1.1
(keep-alive, Content-Length request bodies, chunked streamed replies) to answer POST /v1/chat/completions
with a precomputed 50-token reply, streamed or not.

It must never be the bottleneck, so every reply is built once at start-up and, without a delay, written
with a single `write` call. Two ways to slow a stream down (plain replies never are):
- a per-chunk delay (`--delay-ms`, or at run time `POST /_bench/delay/<ms>`): each content chunk is written
  after its own sleep, so that many slow streams stay open at once (the memory scenario);
- a pace (`--pace-ms`, or at run time `POST /_bench/pace/<ms>`): the first token goes out with the head, then
  one token every X ms, as a real model streams (token i is due i * X ms after the request); the end follows
  the last token at once.
  Each token is its own write, so the server under test receives (and forwards) 50 separate pieces.
The delay wins when both are set.

    python bench/upstream.py --port 9100 [--delay-ms 200 | --pace-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

TOKENS = tuple(f"token{i}" for i in range(50))
PROMPT_TOKENS = 12
COMPLETION_TOKENS = len(TOKENS)
CHAT_PATH = b"/v1/chat/completions"
DELAY_PATH = b"/_bench/delay/"
PACE_PATH = b"/_bench/pace/"
_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_USAGE_RE = re.compile(rb'"include_usage"\s*:\s*true')

_CHUNK_HEAD = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o-mini"}
_USAGE = {
    "prompt_tokens": PROMPT_TOKENS,
    "completion_tokens": COMPLETION_TOKENS,
    "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
}


def _event(payload: object) -> bytes:
    """One SSE event as one HTTP chunk (size line, data, CRLF)."""
    data = b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode())
    data += b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _choice(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, object]:
    return {**_CHUNK_HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}


def _token(index: int) -> str:
    return TOKENS[index] if index == 0 else " " + TOKENS[index]


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"
) + _event(_choice({"role": "assistant", "content": ""}))
CONTENT_CHUNKS = tuple(_event(_choice({"content": _token(i)})) for i in range(COMPLETION_TOKENS))
STREAM_END = _event(_choice({}, "stop"))
USAGE_CHUNK = _event({**_CHUNK_HEAD, "choices": [], "usage": _USAGE})
DONE = _event(b"[DONE]") + b"0\r\n\r\n"
STREAM_REPLY = STREAM_HEAD + b"".join(CONTENT_CHUNKS) + STREAM_END + DONE
STREAM_REPLY_WITH_USAGE = STREAM_HEAD + b"".join(CONTENT_CHUNKS) + STREAM_END + USAGE_CHUNK + DONE


def _plain_reply() -> bytes:
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(map(_token, range(COMPLETION_TOKENS)))},
                    "finish_reason": "stop",
                }
            ],
            "usage": _USAGE,
        },
        separators=(",", ":"),
    ).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    return head + body


PLAIN_REPLY = _plain_reply()
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
NO_CONTENT = b"HTTP/1.1 204 No Content\r\n\r\n"


class MockUpstream:
    """The server's state: only the per-chunk delay and the pace, which the scenarios change at run time."""

    def __init__(self, delay_ms: float = 0.0, pace_ms: float = 0.0) -> None:
        self.delay = delay_ms / 1000
        self.pace = pace_ms / 1000

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lower = head.lower()
                start = lower.find(b"\r\ncontent-length:")
                length = int(lower[start + 17 : lower.index(b"\r\n", start + 2)]) if start >= 0 else 0
                body = await reader.readexactly(length) if length else b""
                path = head.split(b" ", 2)[1]
                await self._answer(path, body, writer)
                if b"\r\nconnection: close" in lower:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, path: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        if path.startswith(DELAY_PATH):
            self.delay = float(path[len(DELAY_PATH) :]) / 1000
            writer.write(NO_CONTENT)
        elif path.startswith(PACE_PATH):
            self.pace = float(path[len(PACE_PATH) :]) / 1000
            writer.write(NO_CONTENT)
        elif path != CHAT_PATH:
            writer.write(NOT_FOUND)
        elif not _STREAM_RE.search(body):
            writer.write(PLAIN_REPLY)
        elif self.delay:
            await self._slow_stream(writer, self.delay, first=self.delay, include_usage=bool(_USAGE_RE.search(body)))
            return
        elif self.pace:
            await self._slow_stream(writer, self.pace, first=0.0, include_usage=bool(_USAGE_RE.search(body)))
            return
        else:
            writer.write(STREAM_REPLY_WITH_USAGE if _USAGE_RE.search(body) else STREAM_REPLY)
        await writer.drain()

    @staticmethod
    async def _slow_stream(writer: asyncio.StreamWriter, gap: float, *, first: float, include_usage: bool) -> None:
        """The head at once, then content chunk i at `first + i * gap` seconds after the request, then the end
        with the last chunk. The times are kept from the start (a late wake-up shortens the next sleep), so
        timer granularity (uvloop's is 1 ms) does not pile up over 50 tokens: every stream lasts the same."""
        writer.write(STREAM_HEAD)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, chunk in enumerate(CONTENT_CHUNKS):
            due = start + first + index * gap
            if due > start:
                await asyncio.sleep(max(0.0, due - loop.time()))
                if writer.is_closing():  # the client went away: stop writing into a dead socket
                    return
            writer.write(chunk)
        writer.write(STREAM_END + USAGE_CHUNK + DONE if include_usage else STREAM_END + DONE)
        await writer.drain()


def raise_fd_limit() -> None:
    """Thousands of open streams need as many sockets: lift the soft descriptor limit to the hard one."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_fast(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run on uvloop when it is installed (it is, with uvicorn's extras): the tools must outrun Parley."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


async def serve(port: int, delay_ms: float, host: str = "127.0.0.1", pace_ms: float = 0.0) -> None:
    upstream = MockUpstream(delay_ms, pace_ms)
    server = await asyncio.start_server(upstream.handle, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="Fast mock OpenAI upstream (50-token replies).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="sleep before each content chunk of a stream")
    parser.add_argument("--pace-ms", type=float, default=0.0, help="sleep between a stream's tokens")
    args = parser.parse_args()
    raise_fd_limit()
    run_fast(lambda: serve(args.port, args.delay_ms, args.host, args.pace_ms))


if __name__ == "__main__":
    main()
