"""Anthropic's Messages API through the official SDK.

The SDK sends the request, authenticates, retries (429, 5xx and 529 overloaded, timeouts; honouring
`retry-after`) and turns an error status into an exception; this adapter adds no retry of its own. It reads
the stream's `data:` lines itself (each carries its event's `type`) and decodes each with msgspec into a
struct holding only the fields it needs.

`temperature` is not sent: the API deprecated it and the current models answer 400 when it is present (the
SDK no longer has the parameter). Turns with blank content are left out, since the API refuses a blank text
block (an assistant reply cut off before its first word is stored empty).

Options in OpenAI's words become Anthropic's: tools (`input_schema`), tool_choice (`required` is `any`,
`parallel_tool_calls: false` is `disable_parallel_tool_use`), stop (`stop_sequences`), user (`metadata.user_id`),
top_p, top_k. Tool calls become `tool_use` blocks, tool results `tool_result` blocks of a user message, images
`image` blocks (a data URL's bytes as a base64 source, any other URL as a url source); a streamed `tool_use`
block comes back as tool call pieces (its `input_json_delta`s, the arguments)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

import anthropic
import httpx2
import msgspec
from anthropic.types import MessageParam

from adapters.llm import StreamEnd, drain, event_pieces, is_retryable_status, read_stream, text_pieces
from domain.conversation.errors import ProviderError
from domain.conversation.model import Role, Usage
from domain.conversation.ports import (
    CompletionOptions,
    CompletionRequest,
    Image,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Turn,
    UsageReport,
)

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
    partial_json: str | None = None
    stop_reason: str | None = None


class _Block(msgspec.Struct):
    type: str
    id: str | None = None
    name: str | None = None


class _Error(msgspec.Struct):
    type: str = "api_error"
    message: str = "error in the stream"


class _Event(msgspec.Struct):
    type: str
    message: _Message | None = None
    delta: _Delta | None = None
    usage: _Usage | None = None
    error: _Error | None = None
    index: int = 0
    content_block: _Block | None = None


_decode_event = msgspec.json.Decoder(_Event).decode

CAPABILITIES = frozenset({"tools", "tool_choice", "parallel_tool_calls", "stop", "user", "top_p", "top_k"})
"""The CompletionOptions fields the Messages API has a parameter for (no response_format, seed, logit_bias or
penalties)."""
FINISH_REASONS = {"max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
"""Anthropic's stop_reason -> Parley's finish reason (anything else is "stop")."""


class AnthropicProvider:
    """`read_timeout` bounds the wait for each piece of the stream, the first one included."""

    capabilities = CAPABILITIES

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
        plain = request.options is None and all(turn.plain for turn in request.messages)
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [
                _message(turn) for turn in request.messages if turn.role is not Role.SYSTEM and turn.content.strip()
            ]
            if plain
            else _rich_messages(request.messages),
            "max_tokens": request.max_tokens,
            "stream": True,
        }
        if system:
            body["system"] = system
        if request.options is not None:
            body.update(_options(request.options))

        def send() -> Awaitable[httpx2.Response]:
            return self._client.post("/v1/messages", cast_to=httpx2.Response, body=body, stream=True)

        events = self._events if request.options is None else self._events_with_tools
        return read_stream(self.name, send, events, anthropic, _status_message)

    async def _events_with_tools(self, batches: AsyncIterator[list[bytes]]) -> AsyncIterator[StreamEvent]:
        """`_events`, passing `tool_use` blocks on as tool call pieces too (finish reason "tool_calls")."""
        reading = _Reading(self.name)
        async for piece in event_pieces(batches, reading.line_with_tools):
            yield piece
        yield await reading.end(batches)

    async def _events(self, batches: AsyncIterator[list[bytes]]) -> AsyncIterator[StreamEvent]:
        """Text as it comes, then the usage once `message_stop` arrives, with why the reply ended (`stop_reason`
        `max_tokens` is OpenAI's and Parley's "length", `refusal` their "content_filter")."""
        reading = _Reading(self.name)
        async for piece in text_pieces(batches, reading.line):
            yield piece
        yield await reading.end(batches)

    async def aclose(self) -> None:
        await self._client.close()


def _message(turn: Turn) -> MessageParam:
    if turn.role is Role.ASSISTANT:
        return {"role": "assistant", "content": turn.content}
    return {"role": "user", "content": turn.content}


def _rich_messages(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Turns with tool calls, tool results or images as Anthropic's content blocks; consecutive tool results
    (and a user turn after them) make one user message, as the API wants all results of a turn together."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        if turn.role is Role.SYSTEM:
            continue
        blocks: list[dict[str, Any]] = []
        if turn.role is Role.TOOL:
            blocks.append({"type": "tool_result", "tool_use_id": turn.tool_call_id or "", "content": turn.content})
        else:
            blocks += [_image_block(image) for image in turn.images]
            if turn.content.strip():
                blocks.append({"type": "text", "text": turn.content})
            for call in turn.tool_calls:
                blocks.append(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": _arguments(call.arguments)}
                )
        if not blocks:
            continue
        role = "assistant" if turn.role is Role.ASSISTANT else "user"
        if role == "user" and messages and messages[-1]["role"] == "user" and _has_results(messages[-1]):
            messages[-1]["content"] += blocks
        else:
            messages.append({"role": role, "content": blocks})
    return messages


def _has_results(message: dict[str, Any]) -> bool:
    return any(block["type"] == "tool_result" for block in message["content"])


def _arguments(arguments: str) -> Any:
    """A tool call's arguments as the JSON object Anthropic's `input` is ({} for none or for what is not JSON)."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _image_block(image: Image) -> dict[str, Any]:
    if image.url.startswith("data:") and ";base64," in image.url:
        media_type, data = image.url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": image.url}}


def _options(options: CompletionOptions) -> dict[str, Any]:
    """The options as the Messages API's parameters (the gateway has refused what it has none for)."""
    body: dict[str, Any] = {}
    if options.tools:
        body["tools"] = [
            {
                "name": tool.name,
                **({"description": tool.description} if tool.description is not None else {}),
                "input_schema": dict(tool.parameters or {"type": "object", "properties": {}}),
            }
            for tool in options.tools
        ]
    choice: dict[str, Any] | None = None
    if options.tool_choice == "function":
        choice = {"type": "tool", "name": options.tool_name}
    elif options.tool_choice is not None:
        choice = {"type": {"required": "any"}.get(options.tool_choice, options.tool_choice)}
    if options.parallel_tool_calls is False and options.tools:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None and (options.tools or choice["type"] == "none"):
        body["tool_choice"] = choice
    if options.stop:
        body["stop_sequences"] = list(options.stop)
    if options.user is not None:
        body["metadata"] = {"user_id": options.user}
    if options.top_p is not None:
        body["top_p"] = options.top_p
    if options.top_k is not None:
        body["top_k"] = options.top_k
    return body


class _Reading:
    """One stream's state while its lines are read. Both counts are cumulative: `message_start` gives the input
    and a first output count, each `message_delta` the totals so far, so the last value seen is the one to keep,
    never a sum. The prompt is everything read as input: new tokens plus those written to and read from the
    prompt cache."""

    __slots__ = ("cache_creation", "cache_read", "input", "output", "provider", "stop_reason", "stopped", "tools")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.tools: dict[int, int] = {}
        """A tool_use block's index -> its tool call's index among the reply's tool calls."""
        self.stopped = False
        self.stop_reason: str | None = None
        self.input = self.cache_creation = self.cache_read = self.output = 0

    async def end(self, batches: AsyncIterator[list[bytes]]) -> UsageReport:
        """After the last piece: the stream must have reached `message_stop` (else it broke), the rest of the
        body is read, and the usage comes with why the reply ended."""
        if not self.stopped:
            raise ProviderError(f"{self.provider}: the stream ended before message_stop")
        await drain(batches)
        return UsageReport(self.usage(), finish_reason=FINISH_REASONS.get(self.stop_reason or "", "stop"))

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

    def line_with_tools(self, line: bytes) -> str | list[TextDelta | ToolCallDelta] | None:
        """`line`, for a request that offered tools: a `tool_use` block's start (its id and name) and its
        `input_json_delta`s are tool call pieces."""
        if not line.startswith(b"data:"):
            return None
        if b'"tool_use"' in line or b'"input_json_delta"' in line:
            event = _decode_event(line[5:])
            block = event.content_block
            if event.type == "content_block_start" and block is not None and block.type == "tool_use":
                index = self.tools[event.index] = len(self.tools)
                return [ToolCallDelta(index, block.id or "", block.name or "", "")]
            delta = event.delta
            if event.type == "content_block_delta" and delta is not None and delta.type == "input_json_delta":
                if event.index in self.tools and delta.partial_json:
                    return [ToolCallDelta(self.tools[event.index], None, None, delta.partial_json)]
                return None
        return self.line(line)  # also a message_delta whose stop_reason is tool_use

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
