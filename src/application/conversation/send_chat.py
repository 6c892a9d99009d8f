"""Send a chat message and stream the reply.

Order of things (each step is what a user or an accountant relies on):
1. check the input, the model against the plan, and the conversation's owner (nothing stored on failure);
2. an identical request within the cache TTL is answered from the cache: no quota, no provider;
3. reserve prompt estimate + max_tokens on the quota ledger (402 if it does not fit);
4. store the user's message (and the conversation, if new);
5. open a provider stream through the router (failover before the first token; 503 if all fail);
6. stream; when the reply ends, or fails, or the client goes away, store the assistant message and the
   usage record in one transaction and settle the ledger with the real usage (or what was produced)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from application.conversation.dto import (
    ReplyDelta,
    ReplyEvent,
    ReplyFailed,
    ReplyFinished,
    ReplyStarted,
)
from application.conversation.ports import ConversationUnitOfWork, QuotaLedger, Reservation
from application.conversation.quota import QuotaGate
from application.conversation.response_cache import CachedReply, ResponseCache
from application.conversation.router import OpenedStream, ProviderRouter
from application.shared import topics
from application.shared.allowance import Allowance, AllowanceProvider, QuotaStatus
from application.shared.ports import OutboxMessage
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.context import check_content, fit_context
from domain.conversation.errors import ProviderError, ProviderUnavailable
from domain.conversation.model import Conversation, Message, Role, Usage, title_from
from domain.conversation.ports import CompletionRequest, TextDelta, Turn, UsageRecord
from domain.conversation.tokens import estimate_tokens
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.ids import new_id

log = logging.getLogger("parley.chat")
PER_MESSAGE_OVERHEAD_TOKENS = 4
QUOTA_THRESHOLDS = (80, 100)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    user_id: UUID
    plan: str
    content: str
    conversation_id: UUID | None = None
    model: str | None = None
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    history: Sequence[Turn] | None = None
    """The whole earlier context, when the client keeps it (/v1); else it is loaded from the conversation."""


@dataclass
class _Turn:
    """Everything one reply needs between preparing it and accounting for it."""

    request: ChatRequest
    spec: ModelSpec
    allowance: Allowance
    conversation: Conversation
    turns: list[Turn]
    max_tokens: int
    prompt_estimate: int
    cache_key: str
    message_id: UUID = field(default_factory=new_id)
    reservation: Reservation | None = None


class ChatReply:
    """The reply: iterate `events()` once. Closing it early (client gone) still accounts for what was produced."""

    def __init__(self, started: ReplyStarted, events: AsyncIterator[ReplyEvent], cached: bool) -> None:
        self.started = started
        self.cached = cached
        self._events = events

    def events(self) -> AsyncIterator[ReplyEvent]:
        return self._events

    async def aclose(self) -> None:
        aclose: Callable[[], Any] | None = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()


class SendChat:
    def __init__(
        self,
        uow_factory: Callable[[], ConversationUnitOfWork],
        catalogue: ModelCatalogue,
        router: ProviderRouter,
        ledger: QuotaLedger,
        allowance: AllowanceProvider,
        cache: ResponseCache,
        clock: Clock,
    ) -> None:
        self._uow_factory = uow_factory
        self._catalogue = catalogue
        self._router = router
        self._quota = QuotaGate(ledger, uow_factory)
        self._allowance = allowance
        self._cache = cache
        self._clock = clock
        self._background: set[asyncio.Task[Any]] = set()

    async def __call__(self, request: ChatRequest) -> ChatReply:
        turn = await self._prepare(request)
        cached = await self._cache.get(turn.cache_key)
        if cached is not None:
            return await self._replay(turn, cached)
        turn.reservation = await self._quota.reserve(
            request.user_id, turn.allowance, turn.prompt_estimate + turn.max_tokens
        )
        try:
            await self._store_user_message(turn)
            opened = await self._router.open(turn.spec, lambda step: self._completion_request(turn, step))
        except BaseException:
            await self._quota.release(turn.reservation)
            raise
        started = ReplyStarted(turn.conversation.id, turn.message_id, turn.spec.id, opened.provider)
        return ChatReply(started, self._stream(turn, opened, started), cached=False)

    # --- preparing ---------------------------------------------------------------------------------

    async def _prepare(self, request: ChatRequest) -> _Turn:
        check_content(request.content)
        spec = self._catalogue.for_plan(request.model, request.plan)
        max_tokens = request.max_tokens or spec.default_max_tokens
        if not 1 <= max_tokens <= spec.context_window // 2:
            raise InvalidInput("max_tokens", f"Use 1 to {spec.context_window // 2} for {spec.id}.")
        if request.temperature is not None and not 0 <= request.temperature <= 2:
            raise InvalidInput("temperature", "Use a temperature from 0 to 2.")
        if request.system is not None and len(request.system) > 32_000:
            raise InvalidInput("system", "A system prompt is at most 32,000 characters.")
        now = self._clock.now()
        allowance = await self._allowance.current(request.user_id, request.plan, now)
        conversation, history = await self._conversation_and_history(request, spec, now)
        turns = fit_context(
            request.system,
            [*history, Turn(Role.USER, request.content)],
            spec.context_window,
            max_tokens,
            estimate_tokens,
        )
        prompt_estimate = sum(estimate_tokens(t.content) + PER_MESSAGE_OVERHEAD_TOKENS for t in turns)
        key = self._cache.key(request.user_id, spec.id, max_tokens, request.temperature, turns)
        return _Turn(request, spec, allowance, conversation, turns, max_tokens, prompt_estimate, key)

    async def _conversation_and_history(
        self, request: ChatRequest, spec: ModelSpec, now: datetime
    ) -> tuple[Conversation, list[Turn]]:
        if request.conversation_id is None:
            conversation = Conversation(
                id=new_id(),
                user_id=request.user_id,
                title=title_from(request.content),
                model=spec.id,
                created_at=now,
                updated_at=now,
            )
            return conversation, list(request.history or [])
        async with self._uow_factory() as uow:
            found = await uow.conversations.get_for_user(request.user_id, request.conversation_id)
            if found is None:
                raise NotFound("No such conversation.")
            messages = await uow.messages.list_for_conversation(found.id) if request.history is None else []
        history = list(request.history) if request.history is not None else [Turn(m.role, m.content) for m in messages]
        return found, history

    def _completion_request(self, turn: _Turn, step: RouteStep) -> CompletionRequest:
        return CompletionRequest(step.upstream_model, turn.turns, turn.max_tokens, turn.request.temperature)

    async def _store_user_message(self, turn: _Turn) -> None:
        now = self._clock.now()
        turn.conversation.updated_at = now
        turn.conversation.message_count += 1
        async with self._uow_factory() as uow:
            if turn.request.conversation_id is None:
                await uow.conversations.add(turn.conversation)
            else:
                await uow.conversations.update(turn.conversation)
            await uow.messages.add(self._user_message(turn, now))
            await uow.commit()

    def _user_message(self, turn: _Turn, now: datetime) -> Message:
        return Message(
            id=new_id(),
            conversation_id=turn.conversation.id,
            user_id=turn.request.user_id,
            role=Role.USER,
            content=turn.request.content,
            created_at=now,
        )

    # --- streaming and accounting ---------------------------------------------------------------

    async def _stream(self, turn: _Turn, opened: OpenedStream, started: ReplyStarted) -> AsyncIterator[ReplyEvent]:
        parts: list[str] = []
        reported: list[Usage] = []
        failure: ProviderError | None = None
        ended = False
        try:
            yield started
            event = opened.first
            while event is not None:
                if isinstance(event, TextDelta):
                    if event.text:
                        parts.append(event.text)
                        yield ReplyDelta(event.text)
                else:
                    reported.append(event.usage)
                try:
                    event = await anext(opened.events)
                except StopAsyncIteration:
                    event = None
            ended = True
        except ProviderError as exc:
            failure, ended = exc, True
            self._router.record_midstream_failure(opened.provider)
            log.warning("chat.provider_failed_midstream", extra={"provider": opened.provider, "error": str(exc)})
        finally:
            if not ended:  # the client went away (or the server is stopping): account in the background,
                # without awaiting here, where a cancelled caller would interrupt it half-way.
                self._spawn(self._abandon(turn, opened, parts, reported))
        message, quota = await self._shielded(self._finish(turn, opened, parts, reported, complete=failure is None))
        if failure is None:
            yield ReplyFinished(message, quota)
        else:
            error = ProviderUnavailable("The model stopped answering mid-reply; what it wrote is kept and charged.")
            yield ReplyFailed(error, message if message.content else None, quota)

    async def _abandon(self, turn: _Turn, opened: OpenedStream, parts: list[str], reported: list[Usage]) -> None:
        await _close(opened.events)  # cancels the provider call
        await self._finish(turn, opened, parts, reported, complete=False)

    async def _finish(
        self, turn: _Turn, opened: OpenedStream, parts: list[str], reported: list[Usage], *, complete: bool
    ) -> tuple[Message, QuotaStatus]:
        content = "".join(parts)
        usage = reported[-1] if reported else Usage(turn.prompt_estimate, estimate_tokens(content) if content else 0)
        now = self._clock.now()
        message = Message(
            id=turn.message_id,
            conversation_id=turn.conversation.id,
            user_id=turn.request.user_id,
            role=Role.ASSISTANT,
            content=content,
            created_at=now,
            model=turn.spec.id,
            provider=opened.provider,
            usage=usage,
        )
        latency_ms = round((time.perf_counter() - opened.started_at) * 1000)
        assert turn.reservation is not None
        # The durable record and the ledger are written at the same time (one wait instead of two). A crash
        # between the two writes leaves the ledger off by this one reply whichever comes first (a hold that
        # lapses, or a count without its record), and a cold ledger is seeded from the durable records.
        record_id, quota = await asyncio.gather(
            self._store_reply(turn, message, usage, cached=False, latency_ms=latency_ms, opened=opened),
            self._quota.settle(turn.reservation, usage.total_tokens, turn.allowance),
        )
        await self._notify_thresholds(turn, quota, usage.total_tokens, record_id)
        if complete and content:
            await self._cache.put(turn.cache_key, CachedReply(content, usage, opened.provider))
        log.info(
            "chat.reply",
            extra={
                "provider": opened.provider,
                "model": turn.spec.id,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "complete": complete,
                "latency_ms": latency_ms,
                "ttft_ms": opened.ttft_ms,
                "failovers": opened.failovers,
            },
        )
        return message, quota

    async def _store_reply(
        self,
        turn: _Turn,
        message: Message,
        usage: Usage,
        *,
        cached: bool,
        latency_ms: int | None,
        opened: OpenedStream | None,
    ) -> UUID:
        record_id = new_id()
        async with self._uow_factory() as uow:
            if message.content:
                turn.conversation.updated_at = message.created_at
                turn.conversation.message_count += 1
                await uow.messages.add(message)
                await uow.conversations.update(turn.conversation)
            await uow.usage.add(
                UsageRecord(
                    id=record_id,
                    user_id=turn.request.user_id,
                    message_id=message.id if message.content else None,
                    model=turn.spec.id,
                    provider=message.provider or "",
                    usage=usage,
                    cached=cached,
                    period_start=turn.allowance.period_start,
                    created_at=message.created_at,
                    latency_ms=latency_ms,
                    ttft_ms=opened.ttft_ms if opened else None,
                    failovers=opened.failovers if opened else 0,
                )
            )
            await uow.commit()
        return record_id

    async def _notify_thresholds(self, turn: _Turn, quota: QuotaStatus, spent: int, record_id: UUID) -> None:
        """Facts billing acts on: crossing 80% or 100% of the period's quota (an email, once per period), and
        tokens beyond the quota on a plan that bills overage (reported to the payment gateway)."""
        before = quota.used - spent
        crossed = [t for t in QUOTA_THRESHOLDS if before * 100 < t * quota.limit <= quota.used * 100]
        overage = max(0, quota.used - quota.limit) - max(0, before - quota.limit)
        if (not crossed and not overage) or quota.limit <= 0:
            return
        now = self._clock.now()
        async with self._uow_factory() as uow:
            if overage and turn.allowance.overage:
                payload = {"user_id": str(turn.request.user_id), "tokens": overage, "usage_id": str(record_id)}
                await uow.outbox.add(OutboxMessage(topic=topics.OVERAGE, payload=payload, created_at=now))
            for threshold in crossed:
                payload = {
                    "user_id": str(turn.request.user_id),
                    "threshold": threshold,
                    "plan": turn.allowance.plan,
                    "limit": quota.limit,
                    "period_start": turn.allowance.period_start.isoformat(),
                    "period_end": turn.allowance.period_end.isoformat(),
                }
                await uow.outbox.add(OutboxMessage(topic=topics.QUOTA_THRESHOLD, payload=payload, created_at=now))
            await uow.commit()

    # --- cache hits ---------------------------------------------------------------------------------

    async def _replay(self, turn: _Turn, cached: CachedReply) -> ChatReply:
        await self._store_user_message(turn)
        now = self._clock.now()
        message = Message(
            id=turn.message_id,
            conversation_id=turn.conversation.id,
            user_id=turn.request.user_id,
            role=Role.ASSISTANT,
            content=cached.content,
            created_at=now,
            model=turn.spec.id,
            provider=cached.provider,
            usage=cached.usage,
            cached=True,
        )
        await self._store_reply(turn, message, cached.usage, cached=True, latency_ms=None, opened=None)
        quota = await self._quota.status(turn.request.user_id, turn.allowance)
        started = ReplyStarted(turn.conversation.id, message.id, turn.spec.id, cached.provider)
        return ChatReply(started, _replay_events(started, message, quota), cached=True)

    # --- background accounting ---------------------------------------------------------------------

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _shielded(self, coroutine: Any) -> Any:
        """Run accounting so that a cancelled caller cannot interrupt it half-way."""
        return await asyncio.shield(self._spawn(coroutine))

    async def drain(self) -> None:
        """Wait for accounting still running in the background (graceful shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)


async def _replay_events(started: ReplyStarted, message: Message, quota: QuotaStatus) -> AsyncIterator[ReplyEvent]:
    yield started
    words = message.content.split(" ")
    for index, word in enumerate(words):
        yield ReplyDelta(word if index == len(words) - 1 else word + " ")
    yield ReplyFinished(message, quota)


async def _close(events: AsyncIterator[Any]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # the provider stream is being abandoned; its errors no longer matter
            log.debug("chat.provider_close_failed", exc_info=True)
