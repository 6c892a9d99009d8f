"""OpenAI-compatible /v1: chat completions (plain and streamed, with `stream_options.include_usage`) and
the model list, in OpenAI's wire format, so the official `openai` SDK works with base_url=<server>/v1.
Same quota, rate limits and accounting as /api/chat; every error in OpenAI's error body.

Tools, tool_choice, parallel_tool_calls, response_format, stop, seed, logit_bias, user, top_p and the penalties
become CompletionOptions (left out at their defaults, so a plain request stays plain); assistant tool calls,
tool results and image parts become Turns. Tool calls come back as `message.tool_calls`, or streamed as
`tool_calls` deltas, with finish_reason "tool_calls"."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from application.conversation.dto import ReplyDelta, ReplyFailed, ReplyFinished
from application.conversation.send_chat import ChatReply, ChatRequest
from application.identity.dto import Principal
from application.identity.guards import require_verified_email
from domain.conversation.catalogue import ModelSpec
from domain.conversation.errors import ModelNotAllowed, QuotaExceeded, UnknownModel
from domain.conversation.model import Role
from domain.conversation.ports import CompletionOptions, Image, Tool, ToolCall, ToolCallDelta, Turn
from domain.identity.errors import Unauthenticated
from domain.shared.errors import DomainError, InvalidInput, RateLimited
from entrypoints.bootstrap import ConversationUseCases
from entrypoints.http.dependencies import Injected, hot_path_services, provide_principal
from entrypoints.http.json_input import MalformedBody
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
ALL_KINDS = ("chat", "embedding")
"""/v1/models lists the embedding models beside the chat models, as OpenAI's does."""


class ImageUrl(msgspec.Struct):
    url: str
    detail: str | None = None


class TextPart(msgspec.Struct):
    """A part of a message's content: `text`, or `image_url` (for a model that accepts images)."""

    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


class FunctionCall(msgspec.Struct):
    name: str
    arguments: str = ""


class ToolCallIn(msgspec.Struct):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class ChatMessage(msgspec.Struct):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class FunctionSpec(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolSpec(msgspec.Struct):
    function: FunctionSpec
    type: Literal["function"] = "function"


class NamedFunction(msgspec.Struct):
    name: str


class NamedToolChoice(msgspec.Struct):
    function: NamedFunction
    type: Literal["function"] = "function"


class ResponseFormat(msgspec.Struct):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class StreamOptions(msgspec.Struct):
    include_usage: bool = False


class CompletionBody(msgspec.Struct):
    model: str
    messages: Annotated[list[ChatMessage], msgspec.Meta(min_length=1, max_length=1000)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    user: str | None = None
    # Passed on to providers that honour them (a model whose provider cannot is refused, 400 naming it).
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    presence_penalty: Annotated[float, msgspec.Meta(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, msgspec.Meta(ge=-2, le=2)] | None = None
    logit_bias: dict[str, float] | None = None
    seed: int | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=4)] | None = None
    tools: Annotated[list[ToolSpec], msgspec.Meta(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    # What no provider is asked for: refused (400 naming it) unless it asks for the default, so a client is
    # never answered as though it had been applied.
    n: int | None = None
    logprobs: bool | None = None

    def unhonoured(self) -> str | None:
        """The first parameter given with a value other than its default, that Parley cannot pass on."""
        asked = {"n": self.n not in (None, 1), "logprobs": bool(self.logprobs)}
        return next((name for name, given in asked.items() if given), None)

    def options(self) -> CompletionOptions | None:
        """What the request asks beyond the text; None when nothing (each parameter at its default)."""
        asked = (
            self.tools, self.tool_choice, self.response_format, self.stop, self.seed, self.logit_bias, self.user,
            self.top_p, self.parallel_tool_calls, self.presence_penalty, self.frequency_penalty,
        )  # fmt: skip
        if asked == _NOTHING_ASKED:
            return None  # a plain chat, as most are: nothing to build
        tools = tuple(Tool(t.function.name, t.function.description, t.function.parameters) for t in self.tools or ())
        choice, name = (
            ("function", self.tool_choice.function.name)
            if isinstance(self.tool_choice, NamedToolChoice)
            else (self.tool_choice, None)
        )
        if not tools and choice in ("none", "auto"):
            choice = None  # no tools to choose from: the default
        response_format: dict[str, Any] | None = None
        if self.response_format is not None and self.response_format.type != "text":
            response_format = {"type": self.response_format.type}
            if self.response_format.json_schema is not None:
                response_format["json_schema"] = self.response_format.json_schema
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())
        options = CompletionOptions(
            tools=tools,
            tool_choice=choice,
            tool_name=name,
            parallel_tool_calls=self.parallel_tool_calls if tools else None,
            response_format=response_format,
            stop=stop,
            seed=self.seed,
            logit_bias=self.logit_bias or None,
            user=self.user,
            top_p=None if self.top_p == 1 else self.top_p,
            presence_penalty=self.presence_penalty or None,
            frequency_penalty=self.frequency_penalty or None,
        )
        return None if options == CompletionOptions() else options


_NOTHING_ASKED = (None,) * 11


class OpenAIError(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(msgspec.Struct):
    error: OpenAIError


SHUTTING_DOWN = (
    b"data: "
    + _encode(
        ErrorBody(
            OpenAIError(
                "The server is restarting; send the request again.", "server_error", None, "server-shutting-down"
            )
        )
    )
    + b"\n\n"
)


def _text(message: ChatMessage) -> str:
    if message.content is None:
        return ""
    if isinstance(message.content, str):
        return message.content
    return "".join(part.text or "" for part in message.content if part.type == "text")


def _turn(message: ChatMessage) -> Turn:
    """A message as a Turn: the plain one for text, else with its tool calls, tool call id or images."""
    role = Role(message.role)
    if role is Role.TOOL:
        return Turn(role, _text(message), tool_call_id=message.tool_call_id or "")
    images: tuple[Image, ...] = ()
    if isinstance(message.content, list):
        images = tuple(Image(p.image_url.url) for p in message.content if p.type == "image_url" and p.image_url)
        if any(p.type not in ("text", "image_url") for p in message.content):
            raise InvalidInput("messages", "Content parts must be `text` or `image_url`.")
    calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ())
    if role is not Role.USER and images:
        raise InvalidInput("messages", "Only user messages may hold images.")
    if not (images or calls):
        return Turn(role, _text(message))
    return Turn(role, _text(message), tool_calls=calls if role is Role.ASSISTANT else (), images=images)


def to_chat_request(body: CompletionBody, principal: Principal) -> ChatRequest:
    if (param := body.unhonoured()) is not None:
        raise InvalidInput(param, f"`{param}` is not supported by this model; leave it out or use its default.")
    system = "\n\n".join(_text(m) for m in body.messages if m.role in ("system", "developer")) or None
    turns = [_turn(m) for m in body.messages if m.role in ("user", "assistant", "tool")]
    if not turns or turns[-1].role not in (Role.USER, Role.TOOL):
        raise InvalidInput("messages", "The last message must come from the user (or be a tool's result).")
    last = turns[-1]
    return ChatRequest(
        user_id=principal.user.id,
        plan=principal.user.plan,
        content=last.content,
        model=body.model,
        system=system,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        temperature=body.temperature,
        history=turns[:-1],
        last=None if last.plain else last,
        options=body.options(),
    )


def completion_id(reply: ChatReply) -> str:
    return f"chatcmpl-{reply.started.message_id.hex}"


async def completion_chunks(reply: ChatReply, include_usage: bool, drain: Drain) -> AsyncIterator[bytes]:
    head = _encode(
        {
            "id": completion_id(reply),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": reply.started.model,
        }
    )[:-1]
    prefix = b"data: " + head + b',"choices":[{"index":0,"delta":{"content":'
    suffix = b'},"finish_reason":null}]}\n\n'
    tool_prefix = b"data: " + head + b',"choices":[{"index":0,"delta":{"tool_calls":'
    # The role chunk goes out with the first text chunk (already received when the reply starts): the first
    # write of the body carries the first token.
    role: bytes | None = (
        b"data: "
        + head
        + b',"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'
    )
    try:
        async for event in reply.events():
            stopping = False
            if isinstance(event, ReplyDelta):
                if drain.started:  # the server is stopping: end with an error, not a cut stream
                    chunk, stopping = SHUTTING_DOWN, True
                else:
                    chunk = prefix + _encode(event.text) + suffix
            elif isinstance(event, ToolCallDelta):
                chunk = tool_prefix + _encode([_call_delta(event)]) + suffix
            elif isinstance(event, ReplyFinished):
                finish = _encode(event.finish_reason)
                chunk = b"data: " + head + b',"choices":[{"index":0,"delta":{},"finish_reason":' + finish + b"}]}\n\n"
                if include_usage:
                    usage = event.message.usage
                    chunk += (
                        b"data: "
                        + head
                        + b',"choices":[],"usage":'
                        + _encode(
                            {
                                "prompt_tokens": usage.prompt_tokens,
                                "completion_tokens": usage.completion_tokens,
                                "total_tokens": usage.total_tokens,
                            }
                        )
                        + b"}\n\n"
                    )
            elif isinstance(event, ReplyFailed):
                chunk = b"data: " + _encode(ErrorBody(_error_of(event.error, 503))) + b"\n\n"
            else:
                continue
            if role is not None:
                chunk, role = role + chunk, None
            yield chunk
            if stopping:
                break
        if role is not None:
            yield role
        yield b"data: [DONE]\n\n"
    finally:
        await reply.aclose()


def _call_delta(delta: ToolCallDelta) -> dict[str, Any]:
    """A tool call piece as OpenAI streams it: the first with its id, type and name."""
    if delta.id is None:
        return {"index": delta.index, "function": {"arguments": delta.arguments}}
    function = {"name": delta.name or "", "arguments": delta.arguments}
    return {"index": delta.index, "id": delta.id, "type": "function", "function": function}


def _answer(content: str, calls: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The completion's message: its text, and the tool calls the model asks for."""
    if not calls:
        return {"role": "assistant", "content": content, "refusal": None}
    tool_calls = [calls[index] for index in sorted(calls)]
    return {"role": "assistant", "content": content or None, "refusal": None, "tool_calls": tool_calls}


async def completion_body(reply: ChatReply) -> dict[str, Any]:
    calls: dict[int, dict[str, Any]] = {}
    try:
        async for event in reply.events():
            if isinstance(event, ToolCallDelta):
                call = calls.setdefault(
                    event.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                if event.id is not None:
                    call["id"], call["function"]["name"] = event.id, event.name or ""
                call["function"]["arguments"] += event.arguments
                continue
            if isinstance(event, ReplyFailed):
                raise event.error
            if isinstance(event, ReplyFinished):
                message, usage = event.message, event.message.usage
                return {
                    "id": completion_id(reply),
                    "object": "chat.completion",
                    "created": int(message.created_at.timestamp()),
                    "model": reply.started.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": _answer(message.content, calls),
                            "logprobs": None,
                            "finish_reason": event.finish_reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": usage.prompt_tokens,
                        "completion_tokens": usage.completion_tokens,
                        "total_tokens": usage.total_tokens,
                    },
                }
    finally:
        await reply.aclose()
    raise RuntimeError("the reply ended without a final event")


def v1_errors(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(data_container=ErrorBody, description=HTTPStatus(status).phrase)
        for status in sorted({400, *statuses})
    }


@post(
    "/chat/completions",
    status_code=200,
    responses=v1_errors(401, 403, 404, 429, 503),
    operation_class=JsonOrEventStream,
)
async def chat_completions(
    request: Request[Any, Any, Any],
    data: JSONBody[CompletionBody],
    principal: NamedDependency[Principal],
) -> Response[Any]:
    services = hot_path_services(request)
    await services.rate_limits.check(request, "chat", user_id=str(principal.user.id))
    require_verified_email(principal, required=services.settings.require_verified_email)
    reply = await services.conversation.send_chat(to_chat_request(data, principal))
    if data.stream:
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        chunks = completion_chunks(reply, include_usage, request.app.state.drain)
        return EventStream(chunks)
    return Response(await completion_body(reply))


@get("/models", responses=v1_errors(401))
async def list_models(
    principal: NamedDependency[Principal], conversation: Injected[ConversationUseCases]
) -> dict[str, Any]:
    entries = conversation.list_models(principal.user.plan, kinds=ALL_KINDS)
    return {"object": "list", "data": [_model_object(e.spec) for e in entries if e.allowed]}


@get("/models/{model_id:path}", responses=v1_errors(401, 404))
async def retrieve_model(
    model_id: FromPath[str], principal: NamedDependency[Principal], conversation: Injected[ConversationUseCases]
) -> dict[str, Any]:
    """One model the caller's plan may use; any other id (unknown, or on another plan only) is 404, as OpenAI
    answers for a model that does not exist or that the caller has no access to."""
    wanted = model_id.lstrip("/")  # ids may hold slashes (`org/model`)
    for entry in conversation.list_models(principal.user.plan, kinds=ALL_KINDS):
        if entry.spec.id == wanted and entry.allowed:
            return _model_object(entry.spec)
    raise UnknownModel(wanted)


def _model_object(spec: ModelSpec) -> dict[str, Any]:
    return {"id": spec.id, "object": "model", "created": 0, "owned_by": spec.provider}


# --- errors in OpenAI's shape ---------------------------------------------------------------------


def _error_of(exc: DomainError, status: int) -> OpenAIError:
    if isinstance(exc, QuotaExceeded):
        return OpenAIError(exc.detail, "insufficient_quota", None, "insufficient_quota")
    if isinstance(exc, UnknownModel):
        return OpenAIError(
            f"The model `{exc.model}` does not exist.", "invalid_request_error", "model", "model_not_found"
        )
    if isinstance(exc, InvalidInput):
        return OpenAIError(exc.detail, "invalid_request_error", exc.field, exc.code)
    if isinstance(exc, Unauthenticated):
        return OpenAIError(exc.detail, "invalid_request_error", None, "invalid_api_key")
    if isinstance(exc, RateLimited):
        return OpenAIError(exc.detail, "rate_limit_error", None, "rate_limit_exceeded")
    kind = "server_error" if status >= 500 else "permission_error" if status == 403 else "invalid_request_error"
    return OpenAIError(exc.detail, kind, None, exc.code)


def _status_of(exc: DomainError) -> int:
    if isinstance(exc, QuotaExceeded):
        return 429
    if isinstance(exc, UnknownModel):
        return 404
    if isinstance(exc, ModelNotAllowed):
        return 403
    if isinstance(exc, InvalidInput):
        return 400  # OpenAI's status for every invalid request (/api says 422)
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def openai_error(status: int, error: OpenAIError, headers: dict[str, str] | None = None) -> Response[ErrorBody]:
    return Response(ErrorBody(error), status_code=status, headers=headers)


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[ErrorBody]:
    status = _status_of(exc)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return openai_error(status, _error_of(exc, status), headers)


def validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[ErrorBody]:
    first = validation_errors(exc)[0]
    param = None if first["field"] == "body" else first["field"]
    return openai_error(400, OpenAIError(first["message"], "invalid_request_error", param, "invalid_request"))


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[ErrorBody]:
    status = exc.status_code
    message = exc.detail if status < 500 else HTTPStatus(status).phrase
    kind = "server_error" if status >= 500 else "invalid_request_error"
    code = exc.code if isinstance(exc, MalformedBody) else None
    if status == 404:  # the router found no route: /v1 routes answer their own 404s as domain errors
        message = f"Unknown request URL: {request.method} {request.url.path}. Check the URL for typos."
        code = "unknown_url"
    elif status == 405:
        message, code = f"Invalid method for URL ({request.method} {request.url.path}).", "method_not_allowed"
    return openai_error(status, OpenAIError(message, kind, None, code), exc.headers)


def unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    if not is_outage(exc):
        return unexpected_handler(request, exc)
    log_outage(exc)
    message = "A service this request needs is unavailable; try again shortly."
    return openai_error(503, OpenAIError(message, "server_error", None, "service-unavailable"))


def unexpected_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    log_bug(request, exc)
    return openai_error(
        500, OpenAIError("The server had an error processing your request.", "server_error", None, None)
    )


V1_EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_exception_handler,
    **dict.fromkeys(UNAVAILABLE_ERRORS, unavailable_handler),
    Exception: unexpected_handler,
}
"""Every error under /v1 in OpenAI's body: on the router for its routes, and (see app.py) for the paths under
/v1 that match no route."""


def v1_router() -> Router:
    from entrypoints.http.embeddings import create_embeddings  # it uses this module's error shapes

    return Router(
        path="/v1",
        route_handlers=[chat_completions, create_embeddings, list_models, retrieve_model],
        dependencies={"principal": Provide(provide_principal)},
        exception_handlers=V1_EXCEPTION_HANDLERS,
        tags=["openai-compatible"],
    )
