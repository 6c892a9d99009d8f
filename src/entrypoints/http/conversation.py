"""/api/chat, /api/conversations, /api/usage, /api/models."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from application.conversation.dto import ReplyFailed, ReplyFinished
from application.conversation.ports import StreamLog
from application.conversation.send_chat import ChatReply, ChatRequest
from application.identity.dto import Principal
from application.identity.guards import require_verified_email
from domain.shared.errors import NotFound
from entrypoints.bootstrap import ConversationUseCases
from entrypoints.http.conversation_schemas import (
    ChatBody,
    ChatOut,
    ConversationOut,
    ConversationPage,
    ConversationSummary,
    MessageOut,
    ModelList,
    ModelOut,
    QuotaOut,
    UsageReportOut,
)
from entrypoints.http.dependencies import Injected, hot_path_services, provide_principal
from entrypoints.http.openapi import EventStreamOnly, JsonOrEventStream
from entrypoints.http.problems import errors
from entrypoints.http.rate_limits import RateLimits
from entrypoints.http.sse import StreamRecorder, reply_frames, resumed_frames, stream_key
from entrypoints.http.streaming import EventStream

AUTHED = {"principal": Provide(provide_principal)}
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="page size, 1..100")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page")]
LastEventId = Annotated[int | None, HeaderParameter(name="Last-Event-ID", ge=0, required=False)]


def wants_stream(request: Request[Any, Any, Any], body: ChatBody) -> bool:
    return body.stream or "text/event-stream" in request.headers.get("accept", "")


async def collect(reply: ChatReply) -> ReplyFinished:
    try:
        async for event in reply.events():
            if isinstance(event, ReplyFinished):
                return event
            if isinstance(event, ReplyFailed):
                raise event.error
    finally:
        await reply.aclose()
    raise RuntimeError("the reply ended without a final event")


class ChatController(Controller):
    path = "/api/chat"
    tags = ["conversation"]
    dependencies = AUTHED

    @post(
        "/",
        status_code=200,
        responses={
            200: ResponseSpec(ChatOut, description="The reply as JSON, or as server-sent events (`stream: true`)"),
            **errors(401, 402, 403, 404, 422, 429, 503),
        },
        operation_class=JsonOrEventStream,
        description="Send a message; the reply comes as JSON, or as server-sent events with `stream: true` "
        "(events start, delta..., done | error; each with an `id:` for Last-Event-ID).",
    )
    async def chat(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ChatBody],
        principal: NamedDependency[Principal],
    ) -> Response[Any]:
        services = hot_path_services(request)
        user = principal.user
        await services.rate_limits.check(request, "chat", user_id=str(user.id))
        require_verified_email(principal, required=services.settings.require_verified_email)
        reply = await services.conversation.send_chat(
            ChatRequest(
                user_id=user.id,
                plan=user.plan,
                content=data.content,
                conversation_id=data.conversation_id,
                model=data.model,
                system=data.system,
                max_tokens=data.max_tokens,
                temperature=data.temperature,
            )
        )
        if wants_stream(request, data):
            recorder = StreamRecorder(services.stream_log, stream_key(user.id, reply.started.message_id))
            frames = reply_frames(reply, recorder, request.app.state.drain)
            return EventStream(frames)
        finished = await collect(reply)
        body = ChatOut(reply.started.conversation_id, MessageOut.of(finished.message), QuotaOut.of(finished.quota))
        return Response(body)

    @get(
        "/{message_id:uuid}/events",
        responses=errors(401, 404, 422),
        operation_class=EventStreamOnly,
        description="Resume a streamed reply: send the last event id you received as `Last-Event-ID` and get the "
        "events after it (kept for 5 minutes).",
    )
    async def resume(
        self,
        message_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        stream_log: Injected[StreamLog],
        last_event_id: LastEventId = None,
    ) -> EventStream:
        key = stream_key(principal.user.id, message_id)
        if not await stream_log.exists(key):
            raise NotFound("No such stream (or it has expired).")
        frames = resumed_frames(stream_log, key, last_event_id or 0)
        return EventStream(frames)


class ConversationController(Controller):
    path = "/api/conversations"
    tags = ["conversation"]
    dependencies = AUTHED

    @get("/", responses=errors(401, 422, 429))
    async def list_conversations(
        self,
        request: Request[Any, Any, Any],
        principal: NamedDependency[Principal],
        conversation: Injected[ConversationUseCases],
        rate_limits: NamedDependency[RateLimits],
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> ConversationPage:
        await rate_limits.check(request, "conversation-list", user_id=str(principal.user.id))
        page = await conversation.list_conversations(principal.user.id, limit, cursor)
        return ConversationPage([ConversationSummary.of(c) for c in page.items], page.next_cursor)

    @get("/{conversation_id:uuid}", responses=errors(401, 404))
    async def get_conversation(
        self,
        conversation_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        conversation: Injected[ConversationUseCases],
    ) -> ConversationOut:
        found = await conversation.get_conversation(principal.user.id, conversation_id)
        c = found.conversation
        return ConversationOut(c.id, c.title, c.created_at, c.updated_at, [MessageOut.of(m) for m in found.messages])

    @delete("/{conversation_id:uuid}", status_code=204, responses=errors(401, 404))
    async def delete_conversation(
        self,
        conversation_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        conversation: Injected[ConversationUseCases],
    ) -> None:
        await conversation.delete_conversation(principal.user.id, conversation_id)


@get("/api/usage", dependencies=AUTHED, tags=["conversation"], responses=errors(401, 503))
async def usage(principal: NamedDependency[Principal], conversation: Injected[ConversationUseCases]) -> UsageReportOut:
    report = await conversation.get_usage(principal.user.id, principal.user.plan)
    return UsageReportOut.of(report)


@get("/api/models", dependencies=AUTHED, tags=["conversation"], responses=errors(401))
async def models(principal: NamedDependency[Principal], conversation: Injected[ConversationUseCases]) -> ModelList:
    return ModelList([ModelOut.of(entry) for entry in conversation.list_models(principal.user.plan)])
