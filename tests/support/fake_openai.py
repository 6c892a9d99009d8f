"""A local OpenAI: a real HTTP server on 127.0.0.1 speaking OpenAI's Chat Completions wire format, so the real
`openai` SDK (and any OpenAI client, e.g. a `parley serve` given OPENAI_BASE_URL) is exercised end to end.

Tests script what the next requests get with `Scenario`s (a reply in so many chunks, with or without the
usage chunk; an error status with `retry-after`; an error or a dropped connection after N chunks; a slow
first token or slow headers) and read back every request received, JSON body parsed. With nothing scripted,
each request gets `FakeUpstream.default`.

This module also holds what the fake Anthropic shares: the scenario, the request log and the server
plumbing (a bare ASGI app on uvicorn, in a thread with its own event loop, on a socket bound before the
thread starts). Each SSE event is its own network write and nothing sleeps unless a delay is scripted, so
the fakes can stand in for a provider in benchmarks too."""

from __future__ import annotations

import asyncio
import base64
import struct
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import msgspec
import pytest

from tests.support.local_server import LocalServer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_REPLY = "Hello from the fake upstream! This reply streams one word at a time, as a model would."
OPENAI_API_KEY = "sk-fake-openai-key"
GARBLED_EVENT = b"data: {this is not json\n\n"
OPENAI_MODELS = ("gpt-4o-mini", "gpt-4o")


@dataclass(frozen=True, slots=True)
class Scenario:
    """What the fake does with one request. The defaults are a complete, successful streamed reply."""

    reply: str = DEFAULT_REPLY
    chunks: int | None = None
    """How many text pieces `reply` is cut into (at most len(reply)); None: one piece per word."""
    usage: bool = True
    """OpenAI: send the usage chunk (when the request asks for it). Anthropic always reports usage."""
    prompt_tokens: int | None = None
    """The prompt count reported; None: estimated from the request's messages."""
    completion_tokens: int | None = None
    """The completion count reported; None: the number of pieces sent."""
    status: int = 200
    """Anything but 200 answers with the provider's error body, and the retry headers below."""
    error_code: str | None = None
    """OpenAI: the error body's code (and type) for a status error, e.g. `insufficient_quota` with 429."""
    retry_after: int | None = 1
    retry_after_ms: int | None = 10
    """The SDKs prefer `retry-after-ms` to `retry-after`, so scripted errors cost tests 10 ms per retry."""
    fail_after: int | None = None
    """Send the provider's in-stream error event after this many pieces, then end the body."""
    error_type: str | None = None
    """The in-stream error's type; None: the provider's usual one (server_error, overloaded_error)."""
    garble_after: int | None = None
    """Send an event whose data is not JSON after this many pieces, then end the body."""
    drop_after: int | None = None
    """Close the connection after this many pieces, mid-body."""
    first_token_delay: float = 0.0
    """Seconds between the response headers (and opening events) and the first piece."""
    burst: bool = False
    """Send the whole streamed body in one write, as a fast server's events reach a busy client together."""
    piece_gap: float = 0.0
    """Seconds between one text piece and the next, as a model generating: pieces sent apart arrive apart
    (without a gap they go out back to back, and a client may read several in one go)."""
    headers_delay: float = 0.0
    """Seconds before anything is sent, response headers included."""
    tool_calls: tuple[tuple[str, str], ...] = ()
    """Tool calls the model asks for after its text (`reply`, which may be ""): (function name, arguments JSON).
    Streamed as the provider streams them (each call's arguments in two pieces); the reply then finishes for
    `tool_calls` (OpenAI) or `tool_use` (Anthropic)."""
    filtered: bool = False
    """The provider's safety system stopped the reply after its pieces: OpenAI's finish_reason `content_filter`,
    Anthropic's stop_reason `refusal`."""

    def pieces(self, max_tokens: int | None) -> list[str]:
        """The text pieces to send: cut short at `max_tokens` pieces, as a model stops at its limit."""
        if not self.reply:
            return []
        if self.chunks is None:
            words = self.reply.split(" ")
            pieces = [f"{word} " for word in words[:-1]] + words[-1:]
        else:
            size = len(self.reply)
            pieces = [self.reply[i * size // self.chunks : (i + 1) * size // self.chunks] for i in range(self.chunks)]
        return pieces if max_tokens is None else pieces[:max_tokens]

    def reported_prompt_tokens(self, messages: Iterable[Any]) -> int:
        if self.prompt_tokens is not None:
            return self.prompt_tokens
        text = "".join(str(message.get("content", "")) for message in messages if isinstance(message, dict))
        return max(1, len(text) // 4)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    """The JSON body, parsed; None when there was none."""
    client: tuple[str, int] | None
    """The client's address and port: requests with the same one came over the same connection."""


class FakeUpstream(ABC):
    """The server, its script and its request log. Tests run on their own thread and loop, the server on
    another, so the script and the log sit behind a lock."""

    api_key: str

    def __init__(self) -> None:
        self.default = Scenario()
        self._lock = threading.Lock()
        self._script: deque[Scenario] = deque()
        self._requests: list[RecordedRequest] = []
        self._server: LocalServer | None = None
        self.url = ""

    @property
    def base_url(self) -> str:
        """What the provider's SDK takes as `base_url`."""
        return self.url

    def script(self, *scenarios: Scenario) -> None:
        """The next requests get these scenarios, in order; after them, `default` again."""
        with self._lock:
            self._script.extend(scenarios)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget the script, the log and any change to `default`."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self.default = Scenario()

    def start(self) -> None:
        self._server = LocalServer(self._asgi, type(self).__name__, log_level="warning")
        self.url = self._server.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def next_scenario(self) -> Scenario:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        parsed = msgspec.json.decode(body) if body else None
        request = RecordedRequest(scope["method"], scope["path"], headers, parsed, scope.get("client"))
        with self._lock:
            self._requests.append(request)
        await self.handle(request, receive, send)

    @abstractmethod
    async def handle(self, request: RecordedRequest, receive: Receive, send: Send) -> None:
        """Answer one recorded request as the provider would."""


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return body


async def send_json(send: Send, status: int, payload: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
    data = msgspec.json.encode(payload)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *((name.encode(), value.encode()) for name, value in headers),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


async def start_event_stream(send: Send, headers: Iterable[tuple[str, str]] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                *((name.encode(), value.encode()) for name, value in headers),
            ],
        }
    )


def burst(send: Send) -> Send:
    """`send`, holding the body's pieces back until the last and sending them all in one write."""
    held: list[bytes] = []

    async def send_together(message: Message) -> None:
        if message["type"] != "http.response.body":
            await send(message)
            return
        held.append(message.get("body", b""))
        if not message.get("more_body", False):
            await send({"type": "http.response.body", "body": b"".join(held), "more_body": False})

    return send_together


async def send_event(send: Send, data: bytes, *, last: bool = False) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": not last})


async def client_left_during(receive: Receive, seconds: float) -> bool:
    """Wait `seconds`, unless the client hangs up first (then True): a slow upstream that stops working on a
    request nobody waits for any more, and never holds the server's shutdown."""
    try:
        message = await asyncio.wait_for(receive(), seconds)
    except TimeoutError:
        return False
    return bool(message["type"] == "http.disconnect")


def retry_headers(scenario: Scenario) -> list[tuple[str, str]]:
    headers = []
    if scenario.retry_after is not None:
        headers.append(("retry-after", str(scenario.retry_after)))
    if scenario.retry_after_ms is not None:
        headers.append(("retry-after-ms", str(scenario.retry_after_ms)))
    return headers


OPENAI_CODE_MESSAGES = {
    "insufficient_quota": "You exceeded your current quota, please check your plan and billing details.",
}
OPENAI_ERRORS = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Country not supported."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again in 10ms."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


def openai_error(status: int, message: str | None = None, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error body for `status`; `code` another of its error codes (type and code both, as OpenAI
    writes `insufficient_quota`)."""
    if code is not None:
        return {"error": {"message": OPENAI_CODE_MESSAGES[code], "type": code, "param": None, "code": code}}
    kind, usual_code, default_message = OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}.")
    )
    return {"error": {"message": message or default_message, "type": kind, "param": None, "code": usual_code}}


class FakeOpenAi(FakeUpstream):
    """`POST /v1/chat/completions` (streamed or not), `POST /v1/embeddings` and `GET /v1/models`, behind
    `Authorization: Bearer`."""

    def __init__(self, api_key: str = OPENAI_API_KEY, models: tuple[str, ...] = OPENAI_MODELS) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = models

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    async def handle(self, request: RecordedRequest, receive: Receive, send: Send) -> None:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            await send_json(send, 401, openai_error(401, "Incorrect API key provided."))
        elif (request.method, request.path) == ("GET", "/v1/models"):
            models = [
                {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "fake"} for model in self.models
            ]
            await send_json(send, 200, {"object": "list", "data": models})
        elif (request.method, request.path) == ("POST", "/v1/chat/completions"):
            await self._chat_completion(request.body, receive, send)
        elif (request.method, request.path) == ("POST", "/v1/embeddings"):
            await self._embeddings(request.body, send)
        else:
            await send_json(send, 404, openai_error(404, f"Unknown request URL: {request.method} {request.path}."))

    async def _embeddings(self, body: dict[str, Any], send: Send) -> None:
        """Each input's vector is `fake_embedding(text, dimensions or 8)`; the prompt count is the scenario's, or
        one token a word. Only a scenario's `status` and `prompt_tokens` apply."""
        scenario = self.next_scenario()
        if scenario.status != 200:
            error = openai_error(scenario.status, code=scenario.error_code)
            await send_json(send, scenario.status, error, retry_headers(scenario))
            return
        inputs = [body["input"]] if isinstance(body["input"], str) else body["input"]
        size = body.get("dimensions") or FAKE_EMBEDDING_DIMENSIONS
        data = []
        for index, text in enumerate(inputs):
            vector = fake_embedding(text, size)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = scenario.prompt_tokens if scenario.prompt_tokens is not None else sum(len(t.split()) for t in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        await send_json(send, 200, {"object": "list", "data": data, "model": body["model"], "usage": usage})

    async def _chat_completion(self, body: dict[str, Any], receive: Receive, send: Send) -> None:
        scenario = self.next_scenario()
        if scenario.headers_delay and await client_left_during(receive, scenario.headers_delay):
            return
        if scenario.status != 200:
            error = openai_error(scenario.status, code=scenario.error_code)
            await send_json(send, scenario.status, error, retry_headers(scenario))
            return
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        pieces = scenario.pieces(max_tokens)
        finish_reason = "length" if len(pieces) < len(scenario.pieces(None)) else "stop"
        if scenario.tool_calls:
            finish_reason = "tool_calls"
        if scenario.filtered:
            finish_reason = "content_filter"
        usage = _openai_usage(scenario, body, len(pieces))
        completion_id = f"chatcmpl-{uuid4().hex[:24]}"
        calls = [
            {"id": f"call_{uuid4().hex[:24]}", "type": "function", "function": {"name": name, "arguments": arguments}}
            for name, arguments in scenario.tool_calls
        ]
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(pieces) or None, "refusal": None}
            if calls:
                message["tool_calls"] = calls
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
            reply = _openai_object(completion_id, "chat.completion", body["model"], choices=[choice], usage=usage)
            await send_json(send, 200, reply)
            return
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        await self._stream(
            scenario, body["model"], completion_id, pieces, finish_reason, usage, with_usage, receive, send, calls
        )

    async def _stream(
        self,
        scenario: Scenario,
        model: str,
        completion_id: str,
        pieces: list[str],
        finish_reason: str,
        usage: dict[str, Any],
        with_usage: bool,
        receive: Receive,
        send: Send,
        calls: list[dict[str, Any]],
    ) -> None:
        extra = {"usage": None} if with_usage else {}
        if scenario.burst:
            send = burst(send)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse(_openai_object(completion_id, "chat.completion.chunk", model, choices=[choice], **extra))

        await start_event_stream(send, [("x-request-id", f"req_{uuid4().hex}")])
        await send_event(send, chunk({"role": "assistant", "content": "", "refusal": None}))
        if scenario.first_token_delay and await client_left_during(receive, scenario.first_token_delay):
            return
        for sent in range(len(pieces) + 1):
            if scenario.drop_after == sent:
                return  # uvicorn closes a connection whose response the app left unfinished
            if scenario.garble_after == sent:
                await send_event(send, GARBLED_EVENT, last=True)
                return
            if scenario.fail_after == sent:
                error = openai_error(500)
                error["error"]["type"] = scenario.error_type or "server_error"
                await send_event(send, _sse(error), last=True)
                return
            if sent < len(pieces):
                if sent and scenario.piece_gap and await client_left_during(receive, scenario.piece_gap):
                    return
                await send_event(send, chunk({"content": pieces[sent]}))
        for index, call in enumerate(calls):  # as OpenAI streams them: id, type and name first, then arguments
            function, arguments = call["function"], call["function"]["arguments"]
            head = {**call, "index": index, "function": {"name": function["name"], "arguments": ""}}
            await send_event(send, chunk({"tool_calls": [head]}))
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                await send_event(send, chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]}))
        await send_event(send, chunk({}, finish_reason))
        if with_usage and scenario.usage:
            usage_chunk = _openai_object(completion_id, "chat.completion.chunk", model, choices=[], usage=usage)
            await send_event(send, _sse(usage_chunk))
        await send_event(send, b"data: [DONE]\n\n", last=True)


def _openai_object(completion_id: str, kind: str, model: str, **fields: Any) -> dict[str, Any]:
    head = {"id": completion_id, "object": kind, "created": int(time.time()), "model": model}
    return {**head, "system_fingerprint": "fp_fake", **fields}


def _openai_usage(scenario: Scenario, body: dict[str, Any], pieces: int) -> dict[str, Any]:
    prompt = scenario.reported_prompt_tokens(body.get("messages", []))
    completion = pieces if scenario.completion_tokens is None else scenario.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


FAKE_EMBEDDING_DIMENSIONS = 8


def fake_embedding(text: str, dimensions: int = FAKE_EMBEDDING_DIMENSIONS) -> list[float]:
    """What the fake answers for `text`: its length, then 0.5, 0.25, ... (exact in float32, so base64 round-trips)."""
    return [float(len(text))] + [2.0**-i for i in range(1, dimensions)]


def _sse(payload: Any) -> bytes:
    return b"data: " + msgspec.json.encode(payload) + b"\n\n"


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAi]:
    server = FakeOpenAi()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAi) -> FakeOpenAi:
    """The session's fake OpenAI, with an empty script and request log."""
    fake_openai_server.reset()
    return fake_openai_server
