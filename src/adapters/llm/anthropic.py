"""Anthropic's Messages API through the official SDK.

The SDK sends the request, authenticates, retries (429, 5xx and 529 overloaded, timeouts; honouring
`retry-after`) and turns an error status into an exception; this adapter adds no retry of its own. It reads
the stream's `data:` lines itself (each carries its event's `type`) and decodes each with msgspec into a
struct holding only the fields it needs.

`temperature` is not sent: the API deprecated it and the current models answer 400 when it is present (the
SDK no longer has the parameter). Turns with blank content are left out, since the API refuses a blank text
block (an assistant reply cut off before its first word is stored empty)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any

import anthropic
import httpx2
import msgspec
from anthropic.types import MessageParam

from adapters.llm import StreamEnd, drain, is_retryable_status, read_stream, text_pieces
from domain.conversation.errors import ProviderError
from domain.conversation.model import Role, Usage
from domain.conversation.ports import CompletionRequest, StreamEvent, Turn, UsageReport

WRITE_TIMEOUT_SECONDS = 10.0
POOL_TIMEOUT_SECONDS = 5.0

ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""The HTTP status Anthropic documents for each error type, to classify an `error` event sent mid-stream."""


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class _Message(msgspec.Struct):
    usage: _Usage | None = None


class _Delta(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    stop_reason: str | None = None


class _Error(msgspec.Struct):
    type: str = "api_error"
    message: str = "error in the stream"


class _Event(msgspec.Struct):
    type: str
    message: _Message | None = None
    delta: _Delta | None = None
    usage: _Usage | None = None
    error: _Error | None = None


_decode_event = msgspec.json.Decoder(_Event).decode


class AnthropicProvider:
    """`read_timeout` bounds the wait for each piece of the stream, the first one included."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        name: str = "anthropic",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        self.name = name
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=anthropic.Timeout(
                connect=connect_timeout, read=read_timeout, write=WRITE_TIMEOUT_SECONDS, pool=POOL_TIMEOUT_SECONDS
            ),
            max_retries=max_retries,
            http_client=anthropic.DefaultAioHttpClient(),
        )

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        # The client's generic `post` sends, authenticates, retries and raises status errors as
        # `messages.create` does, without its recursive transform of typed parameters.
        system = "\n\n".join(turn.content for turn in request.messages if turn.role is Role.SYSTEM)
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [
                _message(turn) for turn in request.messages if turn.role is not Role.SYSTEM and turn.content.strip()
            ],
            "max_tokens": request.max_tokens,
            "stream": True,
        }
        if system:
            body["system"] = system

        def send() -> Awaitable[httpx2.Response]:
            return self._client.post("/v1/messages", cast_to=httpx2.Response, body=body, stream=True)

        return read_stream(self.name, send, self._events, anthropic, _status_message)

    async def _events(self, batches: AsyncIterator[list[bytes]]) -> AsyncIterator[StreamEvent]:
        """Text as it comes, then the usage once `message_stop` arrives, with why the reply ended (`stop_reason`
        `max_tokens` is OpenAI's and Parley's "length")."""
        reading = _Reading(self.name)
        async for piece in text_pieces(batches, reading.line):
            yield piece
        if not reading.stopped:
            raise ProviderError(f"{self.name}: the stream ended before message_stop")
        await drain(batches)
        yield UsageReport(reading.usage(), finish_reason="length" if reading.stop_reason == "max_tokens" else "stop")

    async def aclose(self) -> None:
        await self._client.close()


def _message(turn: Turn) -> MessageParam:
    if turn.role is Role.ASSISTANT:
        return {"role": "assistant", "content": turn.content}
    return {"role": "user", "content": turn.content}


class _Reading:
    """One stream's state while its lines are read. Both counts are cumulative: `message_start` gives the input
    and a first output count, each `message_delta` the totals so far, so the last value seen is the one to keep,
    never a sum. The prompt is everything read as input: new tokens plus those written to and read from the
    prompt cache."""

    __slots__ = ("cache_creation", "cache_read", "input", "output", "provider", "stop_reason", "stopped")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.stopped = False
        self.stop_reason: str | None = None
        self.input = self.cache_creation = self.cache_read = self.output = 0

    def line(self, line: bytes) -> str | None:
        if not line.startswith(b"data:"):
            return None
        event = _decode_event(line[5:])
        if event.type == "content_block_delta":
            delta = event.delta
            return delta.text if delta is not None and delta.type == "text_delta" else None
        if event.type in ("message_start", "message_delta"):
            usage = event.message.usage if event.message is not None else event.usage
            if usage is not None:
                self._count(usage)
            if event.delta is not None and event.delta.stop_reason is not None:  # message_delta
                self.stop_reason = event.delta.stop_reason
        elif event.type == "message_stop":
            self.stopped = True
            raise StreamEnd
        elif event.type == "error":
            raise _in_stream_error(self.provider, event.error or _Error())
        return None

    def _count(self, usage: _Usage) -> None:
        self.input = self.input if usage.input_tokens is None else usage.input_tokens
        self.cache_creation = (
            self.cache_creation if usage.cache_creation_input_tokens is None else usage.cache_creation_input_tokens
        )
        self.cache_read = self.cache_read if usage.cache_read_input_tokens is None else usage.cache_read_input_tokens
        self.output = self.output if usage.output_tokens is None else usage.output_tokens

    def usage(self) -> Usage:
        return Usage(prompt_tokens=self.input + self.cache_creation + self.cache_read, completion_tokens=self.output)


def _status_message(error: anthropic.APIStatusError) -> str:
    """`type: message` from Anthropic's error body, rather than the SDK's dump of the whole body."""
    body = error.body
    if isinstance(body, dict) and isinstance(detail := body.get("error"), dict):
        return f"{error.status_code} {detail.get('type')}: {detail.get('message')}"
    return error.message


def _in_stream_error(provider: str, error: _Error) -> ProviderError:
    """An `error` event sent after the 200 (typically `overloaded_error`): classified by the status its type
    would have had."""
    status = ERROR_STATUSES.get(error.type, 500)
    return ProviderError(
        f"{provider}: {error.type}: {error.message}", retryable=is_retryable_status(status), status=status
    )
