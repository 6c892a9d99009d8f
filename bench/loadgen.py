"""An asyncio load generator for chat completions, streamed or not, on raw asyncio streams (an HTTP client
library costs more per chunk than the server it measures) with keep-alive connections.

Two modes:
- `run_load`: C workers, each on its own connection, send requests back to back for a warm-up and then
  D seconds; it reports throughput, time to first token (the first `data:` event carrying non-empty
  `"content"`) and total latency, over the requests that completed inside the measured window.
- `hold_streams`: opens N streams at once (spread over a short ramp) and reads them to the end, reporting
  how many were open at the same time: the memory scenario, against an upstream that streams slowly.

Every request's message is unique, so no response cache can answer it.

    python bench/loadgen.py --url http://127.0.0.1:8000/v1/chat/completions --key KEY --stream \
        --concurrency 32 --duration 10
    python bench/loadgen.py --url ... --key KEY --hold 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from upstream import raise_fd_limit, run_fast

MODEL = "gpt-4o-mini"
MAX_TOKENS = 50
READ_SIZE = 65536
ERROR_SAMPLES = 5


@dataclass(frozen=True)
class Wire:
    """How a wire format's responses read: the marker before a streamed piece's text, the end of a complete
    stream (within its last 64 bytes), an error event, and what a complete plain response holds."""

    content: bytes
    done: bytes
    error: bytes
    plain_ok: bytes


OPENAI = Wire(content=b'"content":"', done=b"[DONE]", error=b'{"error"', plain_ok=b'"choices"')
ANTHROPIC = Wire(content=b'"text":"', done=b"message_stop", error=b'"type":"error"', plain_ok=b'"content":[')
"""Anthropic's Messages API: text in `text_delta`s, `message_stop` last, an `error` event on failure."""


@dataclass(frozen=True)
class Target:
    """Where to send and what: the request head is built once; only the message text changes."""

    host: str
    port: int
    head: bytes
    body_prefix: bytes
    body_suffix: bytes
    stream: bool
    wire: Wire = OPENAI

    @classmethod
    def of(cls, url: str, key: str, *, stream: bool, model: str = MODEL, max_tokens: int = MAX_TOKENS) -> Target:
        parts = urlsplit(url)
        options = ',"stream":true,"stream_options":{"include_usage":true}' if stream else ',"stream":false'
        prefix = f'{{"model":"{model}","max_tokens":{max_tokens}{options},"messages":[{{"role":"user","content":"'
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {key}\r\n"
            "Content-Type: application/json\r\nAccept: */*\r\nContent-Length: "
        )
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 80,
            head=head.encode(),
            body_prefix=prefix.encode(),
            body_suffix=b'"}]}',
            stream=stream,
        )

    @classmethod
    def messages(cls, url: str, key: str, *, stream: bool, model: str = MODEL, max_tokens: int = MAX_TOKENS) -> Target:
        """The same chat through Anthropic's Messages API (/v1/messages): key in `x-api-key`, no usage option (the
        usage comes in `message_delta` anyway)."""
        parts = urlsplit(url)
        options = ',"stream":true' if stream else ',"stream":false'
        prefix = f'{{"model":"{model}","max_tokens":{max_tokens}{options},"messages":[{{"role":"user","content":"'
        head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nx-api-key: {key}\r\n"
            "anthropic-version: 2023-06-01\r\nContent-Type: application/json\r\nAccept: */*\r\nContent-Length: "
        )
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 80,
            head=head.encode(),
            body_prefix=prefix.encode(),
            body_suffix=b'"}]}',
            stream=stream,
            wire=ANTHROPIC,
        )

    def request(self, text: str) -> bytes:
        body = self.body_prefix + text.encode() + self.body_suffix
        return self.head + b"%d\r\n\r\n" % len(body) + body


@dataclass
class Exchange:
    """One request's outcome; times are `time.perf_counter()` values."""

    started: float
    ended: float = 0.0
    first_token: float | None = None
    status: int = 0
    ok: bool = False
    error: str = ""
    """The exception that ended the exchange (connection refused, timeout, broken framing), if any."""
    detail: bytes = b""
    keep_alive: bool = True


class ResponseError(Exception):
    """The server broke the HTTP framing (or closed the connection mid-response)."""


class Connection:
    """One keep-alive HTTP/1.1 connection that parses responses from its own buffer: one `read` may carry
    many chunks, and each is timed when the read that brought it returns."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._buffer = bytearray()

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=READ_SIZE)
        return cls(reader, writer)

    def close(self) -> None:
        self._writer.close()

    async def _fill(self) -> None:
        data = await self._reader.read(READ_SIZE)
        if not data:
            raise ResponseError("connection closed mid-response")
        self._buffer += data

    async def _take_until(self, marker: bytes) -> bytes:
        while (end := self._buffer.find(marker)) < 0:
            await self._fill()
        line = bytes(self._buffer[:end])
        del self._buffer[: end + len(marker)]
        return line

    async def _take(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    async def exchange(
        self,
        request: bytes,
        stream: bool,
        on_first_token: Callable[[], None] | None = None,
        wire: Wire = OPENAI,
    ) -> Exchange:
        result = Exchange(started=time.perf_counter())
        self._writer.write(request)
        head = await self._take_until(b"\r\n\r\n")
        result.status = int(head[9:12])
        lower = head.lower()
        result.keep_alive = b"\r\nconnection: close" not in lower
        if b"\r\ntransfer-encoding: chunked" in lower:
            body = await self._read_chunks(result, on_first_token, wire)
        elif (start := lower.find(b"\r\ncontent-length:")) >= 0:
            end = lower.find(b"\r\n", start + 2)
            body = await self._take(int(lower[start + 17 : end if end >= 0 else None]))
        else:
            raise ResponseError("response without a length")
        result.ended = time.perf_counter()
        if stream:
            result.ok = result.status == 200 and result.first_token is not None and wire.done in body[-64:]
        else:
            result.ok = result.status == 200 and wire.plain_ok in body
        if not result.ok:
            result.detail = body[:300]
        return result

    async def _read_chunks(
        self, result: Exchange, on_first_token: Callable[[], None] | None, wire: Wire = OPENAI
    ) -> bytes:
        """The chunked body; on the way, time the first chunk with content. A chunk that carries an error
        event (an error after the stream started) makes the whole response a failure."""
        pieces: list[bytes] = []
        failed = False
        while True:
            size = int(await self._take_until(b"\r\n"), 16)
            if size == 0:
                await self._take_until(b"\r\n")
                break
            chunk = await self._take(size + 2)
            if result.first_token is None and _has_content(chunk, wire.content):
                result.first_token = time.perf_counter()
                if on_first_token is not None:
                    on_first_token()
            failed = failed or wire.error in chunk
            pieces.append(chunk)
        body = b"".join(pieces)
        return body if not failed else b"[error event] " + body


def _has_content(chunk: bytes, marker: bytes = OPENAI.content) -> bool:
    """True if an SSE event in this chunk carries non-empty content (the role-only first event does not)."""
    at = chunk.find(marker)
    while at >= 0:
        if chunk[at + len(marker) : at + len(marker) + 1] not in (b'"', b""):
            return True
        at = chunk.find(marker, at + 1)
    return False


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 in milliseconds (nearest rank)."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(values)
    rank = lambda q: ordered[max(0, math.ceil(q * len(ordered)) - 1)]  # noqa: E731
    return {name: round(rank(q) * 1000, 3) for name, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))}


@dataclass
class Tally:
    """Every request's outcome (warm-up included: the durability check counts all of them)."""

    exchanges: list[Exchange] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    issued: int = 0

    def fail(self, kind: str, detail: str = "") -> None:
        self.failures[kind] += 1
        sample = f"{kind}: {detail}"[:300]
        if len(self.samples) < ERROR_SAMPLES and sample not in self.samples:
            self.samples.append(sample)

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)
        if not exchange.ok:
            self.fail(exchange.error or f"http {exchange.status}", exchange.detail.decode(errors="replace"))

    @property
    def succeeded(self) -> int:
        return sum(1 for e in self.exchanges if e.ok)


async def _one(
    target: Target,
    conn: Connection | None,
    tally: Tally,
    number: int,
    request_timeout: float,
    on_first_token: Callable[[], None] | None = None,
) -> Connection | None:
    """Send one request on `conn` (opening one if needed); returns the connection to reuse, or None."""
    request = target.request(f"Benchmark message number {number}.")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(request_timeout):
            conn = conn or await Connection.open(target.host, target.port)
            exchange = await conn.exchange(request, target.stream, on_first_token, target.wire)
    except (OSError, ResponseError, ValueError, TimeoutError) as exc:
        failed = Exchange(started, ended=time.perf_counter(), error=type(exc).__name__, detail=str(exc).encode())
        tally.record(failed)
        if conn is not None:
            conn.close()
        return None
    tally.record(exchange)
    if exchange.keep_alive:
        return conn
    conn.close()
    return None


async def run_load(
    target: Target,
    *,
    concurrency: int,
    duration: float,
    warmup: float = 2.0,
    max_requests: int | None = None,
    request_timeout: float = 60.0,
    samples: bool = False,
) -> dict[str, Any]:
    """C workers for warm-up + D seconds. `max_requests` caps the requests sent (warm-up included), e.g. to stay
    inside a quota; when it stops the run early, the window ends there and `capped` says so. `samples` adds
    every measured request's TTFT and latency in seconds (`ttft_s`, `latency_s`), to merge several loads."""
    tally = Tally()
    started = time.perf_counter()
    window_start, deadline = started + warmup, started + warmup + duration
    capped_at: list[float] = []

    async def worker() -> None:
        conn: Connection | None = None
        while time.perf_counter() < deadline:
            if max_requests is not None and tally.issued >= max_requests:
                capped_at.append(time.perf_counter())
                break
            tally.issued += 1
            conn = await _one(target, conn, tally, tally.issued, request_timeout)
        if conn is not None:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    window_end = min([deadline, *capped_at])
    measured = [e for e in tally.exchanges if window_start <= e.ended <= window_end]
    good = [e for e in measured if e.ok]
    seconds = max(window_end - window_start, 1e-9)
    ttfts = [e.first_token - e.started for e in good if e.first_token is not None]
    latencies = [e.ended - e.started for e in good]
    return {
        "mode": "stream" if target.stream else "plain",
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "capped": bool(capped_at),
        "requests": len(good),
        "errors": len(measured) - len(good),
        "rps": round(len(good) / seconds, 2),
        "ttft_ms": percentiles(ttfts),
        "latency_ms": percentiles(latencies),
        "total_sent": tally.issued,
        "total_ok": tally.succeeded,
        "failures": dict(tally.failures),
        "error_samples": tally.samples,
    } | ({"ttft_s": ttfts, "latency_s": latencies} if samples else {})


async def hold_streams(
    target: Target, *, count: int, ramp: float = 2.0, request_timeout: float = 300.0
) -> dict[str, Any]:
    """Open `count` streams, one per connection, spread over `ramp` seconds, and read each to its end.
    A stream counts as open from its first token to its last byte; `peak_open` is the most open at once."""
    tally = Tally()
    open_now = peak = 0
    started = time.perf_counter()

    async def one(index: int) -> None:
        nonlocal open_now
        was_open = False

        def opened() -> None:
            nonlocal open_now, peak, was_open
            was_open, open_now = True, open_now + 1
            peak = max(peak, open_now)

        await asyncio.sleep(ramp * index / count)
        tally.issued += 1
        conn = await _one(target, None, tally, index, request_timeout, on_first_token=opened)
        if conn is not None:
            conn.close()
        if was_open:
            open_now -= 1

    await asyncio.gather(*(one(index) for index in range(count)))
    good = [e for e in tally.exchanges if e.ok]
    first_tokens = [e.first_token for e in good if e.first_token is not None]
    return {
        "mode": "hold",
        "streams": count,
        "peak_open": peak,
        "total_ok": len(good),
        "errors": count - len(good),
        "all_open_after_s": round(max(first_tokens) - started, 3) if len(first_tokens) == count else None,
        "seconds": round(time.perf_counter() - started, 3),
        "ttft_ms": percentiles([e.first_token - e.started for e in good if e.first_token is not None]),
        "latency_ms": percentiles([e.ended - e.started for e in good]),
        "failures": dict(tally.failures),
        "error_samples": tally.samples,
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    target = Target.of(args.url, args.key, stream=args.stream or bool(args.hold), model=args.model)
    if args.hold:
        return await hold_streams(target, count=args.hold, ramp=args.ramp)
    return await run_load(
        target,
        concurrency=args.concurrency,
        duration=args.duration,
        warmup=args.warmup,
        max_requests=args.max_requests,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Chat completions load generator (prints JSON).")
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000/v1/chat/completions")
    parser.add_argument("--key", default="bench", help="the Bearer token (an API key)")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--max-requests", type=int, default=None)
    parser.add_argument("--hold", type=int, default=0, help="open this many streams at once and hold them")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which --hold opens its streams")
    args = parser.parse_args()
    raise_fd_limit()
    print(json.dumps(run_fast(lambda: _main(args)), indent=2))


if __name__ == "__main__":
    main()
