"""Anthropic-compatible Messages API: POST /v1/messages (plain, or streamed as Anthropic's events) and POST
/v1/messages/count_tokens, in Anthropic's wire format, so the official `anthropic` SDK works with
base_url=<server> and an API key in `x-api-key` (or `Authorization: Bearer`). Same models, quota, rate limits
and accounting as /api/chat; every error on these paths in Anthropic's error body.

tools, tool_choice, stop_sequences, top_p, top_k and metadata.user_id become CompletionOptions (in OpenAI's
words: each adapter maps them to its provider's); `tool_use` blocks become an assistant Turn's tool calls,
`tool_result` blocks TOOL turns, `image` blocks images. Tool calls come back as `tool_use` blocks (streamed:
content_block_start of type tool_use, then `input_json_delta`s), with stop_reason `tool_use`."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response, Router, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from application.conversation.dto import ReplyDelta, ReplyFailed, ReplyFinished
from application.conversation.send_chat import ChatReply, ChatRequest
from application.identity.dto import Principal
from application.identity.guards import require_verified_email
from domain.conversation.context import check_content
from domain.conversation.errors import ModelNotAllowed, ProviderUnavailable, QuotaExceeded, UnknownModel
from domain.conversation.model import Role
from domain.conversation.ports import CompletionOptions, Image, Tool, ToolCall, ToolCallDelta, Turn
from domain.shared.errors import DomainError, InvalidInput, RateLimited
from entrypoints.http.anthropic_schemas import (
    AnthropicError,
    AnthropicErrorBody,
    AnthropicErrorDetails,
    ContentBlock,
    CountTokensBody,
    InputMessage,
    Message,
    MessagesBody,
    StopReason,
    TextBlock,
    TokenCount,
    ToolUseBlock,
    Usage,
)
from entrypoints.http.dependencies import hot_path_services, provide_api_key_principal
from entrypoints.http.openapi import JsonOrEventStream
from entrypoints.http.problems import (
    STATUS_BY_ERROR,
    UNAVAILABLE_ERRORS,
    is_outage,
    log_bug,
    log_outage,
    validation_errors,
)
from entrypoints.http.shutdown import Drain
from entrypoints.http.streaming import EventStream

_encode = msgspec.json.Encoder().encode

_INDEX = re.compile(r"\[(\d+)\]")
STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
"""Parley's finish reason -> Anthropic's stop_reason."""
PARAMS = {"stop": "stop_sequences", "parallel_tool_calls": "tool_choice", "tool_name": "tool_choice"}
"""An option's name -> the Messages API parameter that asked for it (where the names differ)."""


# --- Anthropic request -> Parley turn --------------------------------------------------------------------


def _text(content: str | list[ContentBlock], field: str, where: str, model: str) -> str:
    """The text of a string or of text blocks (joined by a blank line); any other block is refused naming
    `field` (`messages` or `system`), its message saying where (`messages.0.content.1`)."""
    if isinstance(content, str):
        return content
    texts = []
    for index, block in enumerate(content):
        at = f"{where}.{index}"
        if block.type in ("image", "document"):
            raise InvalidInput(field, f"{at}: {model} does not accept {block.type} content.")
        if block.type != "text":
            raise InvalidInput(field, f"{at}: `{block.type}` blocks are not supported; send text.")
        if block.text is None:
            raise InvalidInput(field, f"{at}.text: Field required.")
        texts.append(block.text)
    return "\n\n".join(texts)


def _system(body: CountTokensBody | MessagesBody) -> str | None:
    if body.system is None:
        return None
    return _text(body.system, "system", "system", body.model) or None


def _turns(messages: list[InputMessage], model: str) -> list[Turn]:
    for index, message in enumerate(messages):
        expected = "user" if index % 2 == 0 else "assistant"
        if message.role != expected:
            raise InvalidInput(
                "messages",
                f'messages.{index}: roles must alternate between "user" and "assistant", starting with "user".',
            )
    if messages[-1].role != "user":
        raise InvalidInput("messages", "The last message must come from the user (no assistant prefill).")
    turns: list[Turn] = []
    for index, message in enumerate(messages):
        where = f"messages.{index}.content"
        if isinstance(message.content, list) and any(b.type in RICH_BLOCKS for b in message.content):
            turns += _rich_turns(message, where)
            continue
        text = _text(message.content, "messages", where, model)
        try:
            check_content(text, "messages")
        except InvalidInput as refused:
            raise InvalidInput("messages", f"{where}: {refused.detail}") from None
        turns.append(Turn(Role(message.role), text))
    return turns


RICH_BLOCKS = frozenset({"image", "tool_use", "tool_result"})


def _rich_turns(message: InputMessage, where: str) -> list[Turn]:
    """A message with images, tool calls or tool results: its tool results (each a TOOL turn) first, then the
    rest as one turn (if anything is left)."""
    assert isinstance(message.content, list)
    role = Role(message.role)
    results: list[Turn] = []
    texts: list[str] = []
    images: list[Image] = []
    calls: list[ToolCall] = []
    for index, block in enumerate(message.content):
        at = f"{where}.{index}"
        allowed = ("text", "image", "tool_result") if role is Role.USER else ("text", "tool_use")
        if block.type not in allowed:
            raise InvalidInput("messages", f"{at}: `{block.type}` blocks are not supported in {message.role} messages.")
        if block.type == "text":
            texts.append(block.text or "")
        elif block.type == "image":
            images.append(_image(block.source, at))
        elif block.type == "tool_use":
            if not block.id or not block.name:
                raise InvalidInput("messages", f"{at}: a tool_use block needs its id and name.")
            calls.append(ToolCall(block.id, block.name, json.dumps(block.input or {}, separators=(",", ":"))))
        else:
            content = block.content
            text = content if isinstance(content, str) else "\n\n".join(b.text or "" for b in content or ())
            results.append(Turn(Role.TOOL, text, tool_call_id=block.tool_use_id or ""))
    text = "\n\n".join(texts)
    if text or images or calls:
        results.append(Turn(role, text, tool_calls=tuple(calls), images=tuple(images)))
    return results


def _image(source: dict[str, Any] | None, at: str) -> Image:
    """An image block's source as an image URL: base64 data as a data URL."""
    if source is not None and source.get("type") == "base64" and source.get("media_type") and source.get("data"):
        return Image(f"data:{source['media_type']};base64,{source['data']}")
    if source is not None and source.get("type") == "url" and source.get("url"):
        return Image(str(source["url"]))
    raise InvalidInput("messages", f"{at}.source: an image needs a base64 or url source.")


def _options(body: CountTokensBody | MessagesBody) -> CompletionOptions | None:
    """What the request asks beyond the text, in OpenAI's words; None when nothing."""
    tools = tuple(Tool(t.name, t.description, t.input_schema) for t in body.tools or ())
    choice = body.tool_choice
    mode = None if choice is None else {"any": "required", "tool": "function"}.get(choice.type, choice.type)
    if not tools and mode in ("auto", "none"):
        mode = None
    message = body if isinstance(body, MessagesBody) else None
    options = CompletionOptions(
        tools=tools,
        tool_choice=mode,
        tool_name=choice.name if choice is not None and choice.type == "tool" else None,
        parallel_tool_calls=False if tools and choice is not None and choice.disable_parallel_tool_use else None,
        stop=tuple(message.stop_sequences or ()) if message else (),
        user=message.metadata.user_id if message and message.metadata else None,
        top_p=message.top_p if message and message.top_p != 1 else None,
        top_k=message.top_k if message else None,
    )
    return None if options == CompletionOptions() else options


def to_chat_request(body: CountTokensBody | MessagesBody, principal: Principal) -> ChatRequest:
    """The Parley turn an Anthropic request asks for: its last user message is the new message, the messages
    before it the history, `system` the system prompt. Refuses (InvalidInput) what Parley cannot honour."""
    if (param := body.unhonoured()) is not None:
        raise InvalidInput(param, "not supported by this model; leave it out or use its default.")
    turns = _turns(body.messages, body.model)
    message = body if isinstance(body, MessagesBody) else None
    last = turns[-1]
    return ChatRequest(
        user_id=principal.user.id,
        plan=principal.user.plan,
        content=last.content,
        model=body.model,
        system=_system(body),
        max_tokens=message.max_tokens if message else None,
        temperature=message.temperature if message else None,
        history=turns[:-1],
        last=None if last.plain else last,
        options=_options(body),
    )


# --- Parley reply -> Anthropic message ------------------------------------------------------------------


def message_id(reply: ChatReply) -> str:
    return f"msg_{reply.started.message_id.hex}"


def _event(kind: str, payload: Any) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


def _error_event(error: AnthropicError) -> bytes:
    return _event("error", AnthropicErrorBody(error=error))


SHUTTING_DOWN = _error_event(AnthropicError("overloaded_error", "The server is restarting; send the request again."))


async def message_events(reply: ChatReply, input_estimate: int, drain: Drain) -> AsyncIterator[bytes]:
    """Anthropic's event sequence: message_start, content_block_start, ping, a content_block_delta per piece,
    content_block_stop, message_delta (stop_reason and the final usage), message_stop; a reply that fails
    mid-way ends with an `error` event (what was produced is kept and charged). A tool call is a block of its
    own (content_block_start of type tool_use, an `input_json_delta` per piece of its arguments)."""
    start = {
        "type": "message_start",
        "message": {
            "id": message_id(reply),
            "type": "message",
            "role": "assistant",
            "model": reply.started.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_estimate, "output_tokens": 0},
        },
    }
    # The opening events go out with the first piece (already received when the reply starts): the first write
    # of the body carries the first token.
    opening: bytes | None = _event("message_start", start)
    blocks = _Blocks()
    try:
        async for event in reply.events():
            stopping = False
            if isinstance(event, ReplyDelta):
                if drain.started:  # the server is stopping: end with an error, not a cut stream
                    chunk, stopping = SHUTTING_DOWN, True
                else:
                    chunk = blocks.text(event.text)
            elif isinstance(event, ToolCallDelta):
                chunk = blocks.tool_call(event)
            elif isinstance(event, ReplyFinished):
                usage = event.message.usage
                delta = {
                    "type": "message_delta",
                    "delta": {"stop_reason": STOP_REASONS.get(event.finish_reason, "end_turn"), "stop_sequence": None},
                    "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
                }
                chunk = (
                    blocks.close() + _event("message_delta", delta) + _event("message_stop", {"type": "message_stop"})
                )
            elif isinstance(event, ReplyFailed):
                chunk = _error_event(_error_of(event.error, _status_of(event.error)))
            else:
                continue
            if opening is not None:
                chunk, opening = opening + chunk, None
            yield chunk
            if stopping:
                break
    finally:
        await reply.aclose()


class _Blocks:
    """The content blocks of a streamed message: the open one's index and kind, and the events that open, fill
    and close them (the first is opened with the first piece, and followed by a ping)."""

    def __init__(self) -> None:
        self.index = -1
        self.kind: str | None = None
        self.prefix = b""

    def _open(self, kind: str, block: Any) -> bytes:
        events = self.close() if self.kind is not None else b""
        self.index += 1
        self.kind = kind
        events += _event(
            "content_block_start", {"type": "content_block_start", "index": self.index, "content_block": block}
        )
        if self.index == 0:
            events += _event("ping", {"type": "ping"})
        return events

    def text(self, text: str) -> bytes:
        events = b""
        if self.kind != "text":
            events = self._open("text", TextBlock(""))
            self.prefix = (
                b"event: content_block_delta\n"
                b'data: {"type":"content_block_delta","index":%d,"delta":{"type":"text_delta","text":' % self.index
            )
        return events + self.prefix + _encode(text) + b"}}\n\n"

    def tool_call(self, delta: ToolCallDelta) -> bytes:
        events = b""
        if delta.id is not None or self.kind != "tool_use":
            events = self._open(
                "tool_use", {"type": "tool_use", "id": delta.id or "", "name": delta.name or "", "input": {}}
            )
        if delta.arguments:
            piece = {"type": "input_json_delta", "partial_json": delta.arguments}
            events += _event(
                "content_block_delta", {"type": "content_block_delta", "index": self.index, "delta": piece}
            )
        return events

    def close(self) -> bytes:
        """Close the open block (opening an empty text block first, for a reply without any)."""
        events = self._open("text", TextBlock("")) if self.kind is None else b""
        return events + _event("content_block_stop", {"type": "content_block_stop", "index": self.index})


async def message_body(reply: ChatReply) -> Message:
    calls: dict[int, list[str]] = {}
    try:
        async for event in reply.events():
            if isinstance(event, ToolCallDelta):
                call = calls.setdefault(event.index, ["", "", ""])
                if event.id is not None:
                    call[0], call[1] = event.id, event.name or ""
                call[2] += event.arguments
                continue
            if isinstance(event, ReplyFailed):
                raise event.error
            if isinstance(event, ReplyFinished):
                message, usage = event.message, event.message.usage
                content: list[TextBlock | ToolUseBlock] = [TextBlock(message.content)] if message.content else []
                content += [ToolUseBlock(c[0], c[1], _input(c[2])) for _, c in sorted(calls.items())]
                return Message(
                    id=message_id(reply),
                    model=reply.started.model,
                    content=content,
                    stop_reason=STOP_REASONS.get(event.finish_reason, "end_turn"),
                    usage=Usage(usage.prompt_tokens, usage.completion_tokens),
                )
    finally:
        await reply.aclose()
    raise RuntimeError("the reply ended without a final event")


def _input(arguments: str) -> Any:
    """A tool call's arguments (JSON text) as tool_use's `input` object ({} when there are none)."""
    try:
        value = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- routes ---------------------------------------------------------------------------------------------


def _phrase(status: int) -> str:
    return "Overloaded" if status == 529 else HTTPStatus(status).phrase


def anthropic_errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=AnthropicErrorBody, description=_phrase(status))
        for status in sorted({400, *statuses})
    }


@post(
    "/",
    status_code=200,
    responses=anthropic_errors(401, 402, 403, 404, 429, 503, 529),
    operation_class=JsonOrEventStream,
    summary="Create a message (Anthropic's Messages API)",
)
async def create_message(
    request: Request[Any, Any, Any],
    data: JSONBody[MessagesBody],
    principal: NamedDependency[Principal],
) -> Response[Any]:
    services = hot_path_services(request)
    await services.rate_limits.check(request, "chat", user_id=str(principal.user.id))
    require_verified_email(principal, required=services.settings.require_verified_email)
    chat_request = to_chat_request(data, principal)
    try:
        reply = await services.conversation.send_chat(chat_request)
    except InvalidInput as refused:  # an option named in OpenAI's words: name the parameter that asked for it
        if refused.field in PARAMS:
            raise InvalidInput(
                PARAMS[refused.field], refused.detail.replace(refused.field, PARAMS[refused.field])
            ) from None
        raise
    if data.stream:
        input_estimate = services.conversation.count_tokens(chat_request)  # message_start's input_tokens
        return EventStream(message_events(reply, input_estimate, request.app.state.drain))
    return Response(await message_body(reply))


@post(
    "/count_tokens",
    status_code=200,
    responses=anthropic_errors(401, 403, 404, 429),
    summary="Count a prompt's input tokens (Anthropic's Messages API); costs no quota",
)
async def count_tokens(
    request: Request[Any, Any, Any],
    data: JSONBody[CountTokensBody],
    principal: NamedDependency[Principal],
) -> TokenCount:
    services = hot_path_services(request)
    await services.rate_limits.check(request, "count-tokens", user_id=str(principal.user.id))
    return TokenCount(services.conversation.count_tokens(to_chat_request(data, principal)))


# --- errors in Anthropic's shape ------------------------------------------------------------------------

TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def _type_of(status: int) -> str:
    return TYPE_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def _status_of(exc: DomainError) -> int:
    if isinstance(exc, QuotaExceeded):
        return 402  # billing_error: the SDK's PaymentRequiredError, which it does not retry
    if isinstance(exc, UnknownModel):
        return 404
    if isinstance(exc, ModelNotAllowed):
        return 403
    if isinstance(exc, InvalidInput):
        return 400  # Anthropic's status for every invalid request (/api says 422)
    if isinstance(exc, ProviderUnavailable):
        return 529  # every provider of the model is down or overloaded: Anthropic's overloaded_error
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def _error_of(exc: DomainError, status: int) -> AnthropicError:
    if isinstance(exc, UnknownModel):
        return AnthropicError("not_found_error", f"model: {exc.model}", AnthropicErrorDetails("model-not-found"))
    if isinstance(exc, InvalidInput):
        field = _dotted(exc.field)
        named = exc.detail.startswith((f"{field}.", f"{field}:"))
        return AnthropicError("invalid_request_error", exc.detail if named else f"{field}: {exc.detail}")
    return AnthropicError(_type_of(status), exc.detail, AnthropicErrorDetails(exc.code))


def _dotted(field: str) -> str:
    """`messages.0.content` (Anthropic's way of naming a field) for `messages[0].content`."""
    return _INDEX.sub(r".\1", field)


def anthropic_error(
    status: int, error: AnthropicError, headers: dict[str, str] | None = None
) -> Response[AnthropicErrorBody]:
    return Response(AnthropicErrorBody(error=error), status_code=status, headers=headers)


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[AnthropicErrorBody]:
    status = _status_of(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return anthropic_error(status, _error_of(exc, status), headers)


def validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[AnthropicErrorBody]:
    first = validation_errors(exc)[0]
    message = first["message"]
    where = "" if first["field"] == "body" else _dotted(first["field"])
    if message.startswith("Object contains unknown field"):  # msgspec's words for a field Anthropic does not define
        unknown = message.split("`")[1]
        message = f"{where + '.' if where else ''}{unknown}: Extra inputs are not permitted."
    elif where:
        message = f"{where}: {message}"
    return anthropic_error(400, AnthropicError("invalid_request_error", message))


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[AnthropicErrorBody]:
    status = exc.status_code
    message = exc.detail if status < 500 else _phrase(status)
    if status == 404:  # the router found no route
        message = f"Not found: {request.method} {request.url.path}."
    elif status == 405:
        message = f"Method not allowed: {request.method} {request.url.path}."
    return anthropic_error(status, AnthropicError(_type_of(status), message), exc.headers)


def unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[AnthropicErrorBody]:
    if not is_outage(exc):
        return unexpected_handler(request, exc)
    log_outage(exc)
    message = "A service this request needs is unavailable; try again shortly."
    return anthropic_error(503, AnthropicError("overloaded_error", message))


def unexpected_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[AnthropicErrorBody]:
    log_bug(request, exc)
    return anthropic_error(500, AnthropicError("api_error", "An unexpected error has occurred internal to Parley."))


MESSAGES_EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_exception_handler,
    **dict.fromkeys(UNAVAILABLE_ERRORS, unavailable_handler),
    Exception: unexpected_handler,
}
"""Every error under /v1/messages in Anthropic's body: on the router for its routes, and (see app.py) for the
paths under /v1/messages that match no route or method."""

MESSAGES_PATH = "/v1/messages"


def is_messages_path(path: str) -> bool:
    return path == MESSAGES_PATH or path.startswith(MESSAGES_PATH + "/")


def messages_router() -> Router:
    return Router(
        path=MESSAGES_PATH,
        route_handlers=[create_message, count_tokens],
        dependencies={"principal": Provide(provide_api_key_principal)},
        exception_handlers=MESSAGES_EXCEPTION_HANDLERS,
        tags=["anthropic-compatible"],
    )
