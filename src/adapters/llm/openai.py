"""OpenAI's Chat Completions API through the official SDK, which also reaches any OpenAI-compatible server
(vLLM, llama.cpp, Ollama, ...) through `base_url`.

The SDK sends the request, authenticates, retries (429, 5xx, timeouts; honouring `retry-after`) and turns
an error status into an exception; this adapter adds no retry of its own. The SDK's documented aiohttp
transport carries the requests: it takes half the CPU of the default one per streamed reply. The adapter
reads the stream's `data:` lines itself and decodes each with msgspec into a struct holding only the fields it needs.

Every CompletionOptions field but top_k is OpenAI's own parameter and is sent as it is; tool calls, tool results
and image parts are OpenAI's message shapes. A plain chat's request and stream reading are as they were."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import Any, Literal

import httpx2
import msgspec
import openai
from openai.types.chat import ChatCompletionMessageParam

from adapters.llm import StreamEnd, drain, event_pieces, is_retryable_status, read_stream, text_pieces
from domain.conversation.embedding import EmbeddingRequest, EmbeddingResult
from domain.conversation.errors import ProviderError
from domain.conversation.model import Role, Usage
from domain.conversation.ports import (
    CompletionOptions,
    CompletionRequest,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Turn,
    UsageReport,
)

WRITE_TIMEOUT_SECONDS = 10.0
POOL_TIMEOUT_SECONDS = 5.0


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _StreamError(msgspec.Struct):
    message: str = "error in the stream"
    code: int | str | None = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] = []
    usage: _Usage | None = None
    error: _StreamError | str | None = None


_decode_chunk = msgspec.json.Decoder(_Chunk).decode

CAPABILITIES = frozenset(
    {
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "stop",
        "seed",
        "logit_bias",
        "user",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
    }
)
"""The CompletionOptions fields OpenAI's Chat Completions API (and the compatible servers) take."""


class OpenAiProvider:
    """`read_timeout` bounds the wait for each piece of the stream, the first one included.
    `max_tokens_field`: `max_tokens` is what every OpenAI-compatible server understands; OpenAI's reasoning
    models accept only `max_completion_tokens`."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        name: str = "openai",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_retries: int = 2,
        max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_tokens",
    ) -> None:
        self.name = name
        self._max_tokens_field = max_tokens_field
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=openai.Timeout(
                connect=connect_timeout, read=read_timeout, write=WRITE_TIMEOUT_SECONDS, pool=POOL_TIMEOUT_SECONDS
            ),
            max_retries=max_retries,
            http_client=openai.DefaultAioHttpClient(event_hooks={"response": [_spent_budget_is_final]}),
        )

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        # The client's generic `post` (the SDK's documented way to send a request it has no method for)
        # sends, authenticates, retries and raises status errors exactly as `chat.completions.create`, without
        # the recursive transform of typed parameters, which cost ~0.2 ms of CPU per request.
        def send() -> Awaitable[httpx2.Response]:
            options: Any = {"security": {"bearer_auth": True}}
            body = self._body(request)
            return self._client.post(
                "/chat/completions", cast_to=httpx2.Response, body=body, options=options, stream=True
            )

        events = self._events if request.options is None else self._events_with_tools
        return read_stream(self.name, send, events, openai)

    def _body(self, request: CompletionRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_message(turn) if turn.plain else _rich_message(turn) for turn in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            self._max_tokens_field: request.max_tokens,
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.options is not None:
            body.update(_options(request.options))
        return body

    async def _events_with_tools(self, batches: AsyncIterator[list[bytes]]) -> AsyncIterator[StreamEvent]:
        """`_events`, passing tool call pieces on too (finish reason "tool_calls")."""
        reading = _Reading(self.name)
        async for piece in event_pieces(batches, reading.line_with_tools):
            yield piece
        if (report := await reading.end(batches)) is not None:
            yield report

    async def _events(self, batches: AsyncIterator[list[bytes]]) -> AsyncIterator[StreamEvent]:
        """Text as it comes, then the usage chunk's count (sent after the last choice, when the server honours
        `include_usage`) with the choice's finish reason ("length" when max_tokens cut the reply; without the
        usage chunk the caller estimates both). The stream is complete at `[DONE]`, or when it ends after a
        `finish_reason` (some compatible servers omit `[DONE]`); anything else is a broken stream."""
        reading = _Reading(self.name)
        async for piece in text_pieces(batches, reading.line):
            yield piece
        if (report := await reading.end(batches)) is not None:
            yield report

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """The Embeddings API through the SDK's `embeddings.create` (which asks for base64 and decodes it: a
        quarter of the bytes of a float list), with the provider's prompt-token count."""
        try:
            if request.dimensions is None:
                created = await self._client.embeddings.create(model=request.model, input=list(request.inputs))
            else:
                created = await self._client.embeddings.create(
                    model=request.model, input=list(request.inputs), dimensions=request.dimensions
                )
        except openai.APIStatusError as error:
            retryable = is_retryable_status(error.status_code)
            raise ProviderError(
                f"{self.name}: {error.message}", retryable=retryable, status=error.status_code
            ) from error
        except openai.APIConnectionError as error:
            raise ProviderError(f"{self.name}: {error.message}") from error
        ordered = sorted(created.data, key=lambda item: item.index)
        if len(ordered) != len(request.inputs):
            raise ProviderError(f"{self.name}: {len(ordered)} vectors came back for {len(request.inputs)} inputs")
        tokens = created.usage.prompt_tokens if created.usage is not None else None
        return EmbeddingResult([item.embedding for item in ordered], prompt_tokens=tokens)

    async def aclose(self) -> None:
        await self._client.close()


async def _spent_budget_is_final(response: httpx2.Response) -> None:
    """OpenAI answers an exhausted budget (the account's spend limit, or no credits left) with 429
    `insufficient_quota`. Unlike a rate limit it does not pass with time, so the SDK must not retry it; the SDK
    obeys an `x-should-retry` header, which this response hook sets. The error stays retryable for the router:
    another provider may answer, and the circuit breaker counts the failure."""
    if response.status_code == 429 and "x-should-retry" not in response.headers:
        await response.aread()
        if b"insufficient_quota" in response.content:
            response.headers["x-should-retry"] = "false"


_TEXT_REASONS = frozenset({"length", "content_filter"})
_TOOL_REASONS = frozenset({"length", "content_filter", "tool_calls"})
"""The finish reasons passed on as they are (any other is `stop`), without and with tools offered."""


class _Reading:
    """One stream's state while its lines are read."""

    __slots__ = ("finish_reason", "finished", "provider", "usage")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.finished = False
        self.finish_reason = "stop"
        self.usage: _Usage | None = None

    async def end(self, batches: AsyncIterator[list[bytes]]) -> UsageReport | None:
        """After the last piece: the stream must have finished (else it broke), the rest of the body is read,
        and the usage chunk's count comes with the finish reason (None without a usage chunk)."""
        if not self.finished:
            raise ProviderError(f"{self.provider}: the stream ended before the reply did")
        await drain(batches)
        if self.usage is None:
            return None
        usage = Usage(prompt_tokens=self.usage.prompt_tokens, completion_tokens=self.usage.completion_tokens)
        return UsageReport(usage, finish_reason=self.finish_reason)

    def line(self, line: bytes) -> str | None:
        choice = self._choice(line, _TEXT_REASONS)
        return choice.delta.content if choice is not None and choice.delta is not None else None

    def line_with_tools(self, line: bytes) -> str | list[TextDelta | ToolCallDelta] | None:
        """`line`, for a request that offered tools: a chunk's tool call pieces, else its text."""
        choice = self._choice(line, _TOOL_REASONS)
        if choice is None:
            return None
        delta = choice.delta
        if delta is None:
            return None
        if delta.tool_calls:
            calls: list[TextDelta | ToolCallDelta] = [
                ToolCallDelta(
                    call.index,
                    call.id,
                    call.function.name if call.function else None,
                    (call.function.arguments or "") if call.function else "",
                )
                for call in delta.tool_calls
            ]
            return [TextDelta(delta.content), *calls] if delta.content else calls
        return delta.content

    def _choice(self, line: bytes, reasons: frozenset[str]) -> _Choice | None:
        """A `data:` line's first choice (None for other lines and chunks without one), noting the usage and
        the finish reason on the way (`stop` for any reason not in `reasons`); `[DONE]` ends the stream."""
        if not line.startswith(b"data:"):
            return None
        data = line[5:].strip()
        if data == b"[DONE]":
            self.finished = True
            raise StreamEnd
        chunk = _decode_chunk(data)
        if chunk.error is not None:
            raise _in_stream_error(self.provider, chunk.error)
        if chunk.usage is not None:
            self.usage = chunk.usage
        if not chunk.choices:
            return None
        choice = chunk.choices[0]
        if choice.finish_reason is not None:
            self.finished = True
            self.finish_reason = choice.finish_reason if choice.finish_reason in reasons else "stop"
        return choice


def _message(turn: Turn) -> ChatCompletionMessageParam:
    if turn.role is Role.SYSTEM:
        return {"role": "system", "content": turn.content}
    if turn.role is Role.ASSISTANT:
        return {"role": "assistant", "content": turn.content}
    return {"role": "user", "content": turn.content}


def _rich_message(turn: Turn) -> dict[str, Any]:
    """A turn with tool calls, a tool's result, or images, in OpenAI's shape."""
    if turn.role is Role.TOOL:
        return {"role": "tool", "tool_call_id": turn.tool_call_id or "", "content": turn.content}
    if turn.role is Role.ASSISTANT:
        calls = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in turn.tool_calls
        ]
        return {"role": "assistant", "content": turn.content or None, **({"tool_calls": calls} if calls else {})}
    parts: list[dict[str, Any]] = [{"type": "text", "text": turn.content}] if turn.content else []
    parts += [{"type": "image_url", "image_url": {"url": image.url}} for image in turn.images]
    return {"role": "user", "content": parts}


def _options(options: CompletionOptions) -> dict[str, Any]:
    """The options as OpenAI's request parameters (the gateway has refused what the adapter does not honour)."""
    body: dict[str, Any] = {}
    if options.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    **({"description": tool.description} if tool.description is not None else {}),
                    "parameters": dict(tool.parameters or {"type": "object", "properties": {}}),
                },
            }
            for tool in options.tools
        ]
    if options.tool_choice == "function":
        body["tool_choice"] = {"type": "function", "function": {"name": options.tool_name}}
    elif options.tool_choice is not None:
        body["tool_choice"] = options.tool_choice
    if options.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = options.parallel_tool_calls
    if options.response_format is not None:
        body["response_format"] = dict(options.response_format)
    if options.stop:
        body["stop"] = list(options.stop)
    if options.logit_bias:
        body["logit_bias"] = dict(options.logit_bias)
    for name in ("seed", "user", "top_p", "presence_penalty", "frequency_penalty"):
        value = getattr(options, name)
        if value is not None:
            body[name] = value
    return body


def _in_stream_error(provider: str, error: _StreamError | str) -> ProviderError:
    """An `error` object sent instead of the next chunk (OpenAI's server errors; vLLM puts the HTTP status in
    `code`). Retryable unless its status says the request itself is at fault."""
    if isinstance(error, str):
        return ProviderError(f"{provider}: {error}")
    status = error.code if isinstance(error.code, int) else None
    retryable = status is None or is_retryable_status(status)
    return ProviderError(f"{provider}: {error.message}", retryable=retryable, status=status)
