"""LLM provider adapters: the offline demo model, OpenAI (and any OpenAI-compatible server) and Anthropic,
each behind the conversation context's `LlmProvider` port. The composition root builds those whose keys are
configured.

The two network adapters share what this module holds: which HTTP statuses are worth another provider,
how a stream that breaks while being read becomes a ProviderError, and the bounded read to the end of a
finished stream. The SDKs send the requests, authenticate, retry and raise status errors; the adapters
read the streamed lines themselves, because building the SDK's pydantic object for every chunk costs more
CPU than everything else on the streaming path together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import httpx2
import msgspec

from domain.conversation.errors import ProviderError
from domain.conversation.ports import StreamEvent, TextDelta, ToolCallDelta

DRAIN_SECONDS = 1.0
"""How long a finished stream may take to close its body. The end of the body normally arrives with the last
event, and reading it lets the connection go back to the pool instead of being closed."""

STREAM_FAILURES = (httpx2.RequestError, msgspec.DecodeError)
"""What reading a stream's lines can raise once the SDK has handed the response over: a read timeout, a
dropped connection, an event that is not the JSON it should be."""


def is_retryable_status(status: int) -> bool:
    """The statuses the SDKs retry (timeout, conflict, rate limit, server errors): the same request may
    succeed later or at another provider. Any other 4xx is the request's or the configuration's fault."""
    return status in (408, 409, 429) or status >= 500


def stream_failure(provider: str, error: Exception) -> ProviderError:
    """A stream that broke while being read: retryable, since nothing says the next attempt would fail."""
    if isinstance(error, httpx2.TimeoutException):
        return ProviderError(f"{provider}: no data within the read timeout")
    if isinstance(error, msgspec.DecodeError):
        return ProviderError(f"{provider}: unreadable stream event ({error})")
    return ProviderError(f"{provider}: the stream broke off ({type(error).__name__}: {error})")


async def read_stream(
    provider: str,
    send: Callable[[], Awaitable[httpx2.Response]],
    events: Callable[[AsyncIterator[list[bytes]]], AsyncIterator[StreamEvent]],
    sdk: Any,
    status_message: Callable[[Any], str] = lambda error: str(error.message),
) -> AsyncGenerator[StreamEvent, None]:
    """One provider call: `send` the request through the SDK (`sdk`, the SDK's module, names its errors), read
    the body's lines through `events`, and turn every way it can fail into a ProviderError: an error status
    (retryable or not, by status; `status_message` words it), no connection, a stream that broke off."""
    try:
        response = await send()
        async with aclosing(sse_lines(response)) as batches:
            async for event in events(batches):
                yield event
    except sdk.APIStatusError as error:
        retryable = is_retryable_status(error.status_code)
        message = f"{provider}: {status_message(error)}"
        raise ProviderError(message, retryable=retryable, status=error.status_code) from error
    except sdk.APIConnectionError as error:
        raise ProviderError(f"{provider}: {error.message}") from error
    except STREAM_FAILURES as error:
        raise stream_failure(provider, error) from error


async def sse_lines(response: httpx2.Response) -> AsyncGenerator[list[bytes], None]:
    """The lines of a streamed body, without their line ends, in batches: each batch holds the complete lines
    of what one read of the body brought. Lines are split from the raw bytes (every line the adapters act on
    is ASCII up to its JSON, which msgspec decodes from bytes), which skips httpx's text decoding and line
    buffering. A batch is what arrived together, so the adapters forward its text as one piece: a server that
    sends tokens one by one is relayed one by one, and a burst costs one trip down the chain instead of one
    per token. The caller closes it (`aclosing`), which closes the response."""
    try:
        pending = b""
        async for chunk in response.aiter_raw():
            if b"\n" not in chunk:
                pending += chunk
                continue
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            yield [line.rstrip(b"\r") for line in lines]
        if pending:
            yield [pending.rstrip(b"\r")]
    finally:
        await response.aclose()


class StreamEnd(Exception):
    """Raised by a line reader (see `text_pieces`) at the event that ends the stream: `[DONE]`, `message_stop`."""


async def text_pieces(
    batches: AsyncIterator[list[bytes]], read_line: Callable[[bytes], str | None]
) -> AsyncGenerator[TextDelta, None]:
    """The text of each batch of lines (see `sse_lines`) as one piece. `read_line` gives a line's text (None or
    "" for none) and keeps whatever else the adapter needs (usage, a finish reason); it raises StreamEnd at the
    stream's last event, and an exception for an error event or an unreadable one, which is raised here after
    the text that came before it in the batch. Ends when the body does, or at StreamEnd."""
    async for lines in batches:
        text: list[str] = []
        try:
            for line in lines:
                piece = read_line(line)
                if piece:
                    text.append(piece)
        except StreamEnd:
            if text:
                yield TextDelta("".join(text))
            return
        except Exception:
            if text:
                yield TextDelta("".join(text))
            raise
        if text:
            yield TextDelta("".join(text))


async def drain(batches: AsyncIterator[list[bytes]]) -> None:
    """Read what is left of a finished stream (normally nothing but the end of the body), within
    DRAIN_SECONDS; a server that keeps the body open is simply left behind."""
    with contextlib.suppress(TimeoutError, *STREAM_FAILURES):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in batches:
                pass


async def event_pieces(
    batches: AsyncIterator[list[bytes]],
    read_line: Callable[[bytes], str | list[TextDelta | ToolCallDelta] | None],
) -> AsyncGenerator[TextDelta | ToolCallDelta, None]:
    """`text_pieces` for a request that offered tools: `read_line` may also give a line's tool call pieces, which
    are passed on in order with the text around them (the text of a batch up to a tool call piece is one piece).
    Kept apart from `text_pieces` so that a plain chat reads its lines exactly as before."""
    async for lines in batches:
        out: list[TextDelta | ToolCallDelta] = []
        text: list[str] = []
        ended = False
        try:
            for line in lines:
                piece = read_line(line)
                if not piece:
                    continue
                if isinstance(piece, str):
                    text.append(piece)
                    continue
                if text:
                    out.append(TextDelta("".join(text)))
                    text = []
                out.extend(piece)
        except StreamEnd:
            ended = True
        except Exception:
            for event in _flushed(out, text):
                yield event
            raise
        for event in _flushed(out, text):
            yield event
        if ended:
            return


def _flushed(out: list[TextDelta | ToolCallDelta], text: list[str]) -> list[TextDelta | ToolCallDelta]:
    return [*out, TextDelta("".join(text))] if text else out
