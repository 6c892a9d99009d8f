"""Send a chat message and stream the reply: the orchestration of its steps.

1. prepare (chat_prepare.py): check the input, the model against the plan and the conversation's owner;
   nothing is stored when any of this fails;
2. an identical request within the cache TTL is answered from the cache: no quota, no provider;
3. reserve prompt estimate + max_tokens on the quota ledger (402 if it does not fit);
4. record the user's prompt (and the conversation, if new) while a provider stream is opened through the
   router (failover before the first token; 503 if all fail): the prompt's write costs the first token
   nothing. Both must succeed before the first event: a prompt that could not be stored closes the stream
   (nothing is charged), and a stream that could not be opened leaves the prompt stored (as when no provider
   answers);
5. relay the stream (chat_stream.py); when the reply ends, fails, or the client goes away, account for it
   (chat_account.py) in a background task the client cannot cancel half-way. Between pieces, at most every
   `revocation_check_seconds` (a monotonic clock read per piece, one cache read per interval: no query per
   piece), the stream asks whether the account was disabled meanwhile (application/shared/revocation.py); if
   so it stops the provider, charges what was produced and ends with an `account-disabled` error. A reply
   that could not be accounted for (the database down beyond the retries) ends with a `ReplyNotRecorded`
   error event, its traceback logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from application.conversation.chat_account import AccountReply
from application.conversation.chat_prepare import ChatRequest, PreparedTurn, PrepareTurn
from application.conversation.chat_store import ChatStore
from application.conversation.chat_stream import StreamOutcome, relay
from application.conversation.dto import ReplyDelta, ReplyEvent, ReplyFailed, ReplyFinished, ReplyStarted
from application.conversation.quota import QuotaGate
from application.conversation.response_cache import CachedReply, ResponseCache
from application.conversation.router import OpenedStream, ProviderRouter
from application.shared.allowance import AllowanceProvider, QuotaStatus
from application.shared.background import BackgroundTasks
from application.shared.live import LiveCounters, NoLiveCounters
from application.shared.revocation import AccountRevocations
from application.shared.telemetry import NoTelemetry, Telemetry
from domain.conversation.catalogue import ModelCatalogue
from domain.conversation.errors import (
    AccountRevoked,
    ModelNotAllowed,
    ProviderUnavailable,
    QuotaExceeded,
    ReplyNotRecorded,
)
from domain.conversation.model import Message
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput

__all__ = ["ChatReply", "ChatRequest", "SendChat"]
log = logging.getLogger("parley.chat")


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
        store: ChatStore,
        quota: QuotaGate,
        catalogue: ModelCatalogue,
        router: ProviderRouter,
        allowance: AllowanceProvider,
        cache: ResponseCache,
        background: BackgroundTasks,
        clock: Clock,
        live: LiveCounters | None = None,
        telemetry: Telemetry | None = None,
        revocations: AccountRevocations | None = None,
        revocation_check_seconds: float = 2.0,
    ) -> None:
        self._prepare = PrepareTurn(catalogue, allowance, store, cache, clock)
        self._revocations = revocations
        self._check_every = revocation_check_seconds
        self._account = AccountReply(quota, store, cache, clock)
        self._store = store
        self._quota = quota
        self._router = router
        self._cache = cache
        self._background = background
        self._clock = clock
        self._default_model = catalogue.default_model
        self._live = live or NoLiveCounters()
        self._telemetry = telemetry or NoTelemetry()

    async def __call__(self, request: ChatRequest) -> ChatReply:
        try:
            turn = await self._prepare(request)
            if request.options is not None and (refused := self._router.unsupported(turn.spec, request.options)):
                raise InvalidInput(refused, f"`{refused}` is not supported by {turn.spec.id}; leave it out.")
        except ModelNotAllowed:
            self._telemetry.plan_refused(request.plan, request.model or self._default_model)
            raise
        cached = await self._cache.get(turn.cache_key)
        if turn.cache_key:
            self._telemetry.cache_lookup(hit=cached is not None)
        if cached is not None:
            return await self._replay(turn, cached)
        try:
            turn.reservation = await self._quota.reserve(
                request.user_id, turn.allowance, turn.prompt_estimate + turn.max_tokens
            )
        except QuotaExceeded:
            self._telemetry.quota_refused(request.plan)
            raise
        try:
            opened = await self._open_recording_prompt(turn)
        except ProviderUnavailable as exc:
            self._live.error()
            await self._quota.release(turn.reservation)
            await self._account.unanswered(turn, exc)
            raise
        except BaseException:
            await self._quota.release(turn.reservation)
            raise
        started = ReplyStarted(turn.conversation.id, turn.message_id, turn.spec.id, opened.provider)
        return ChatReply(started, self._stream(turn, opened, started), cached=False)

    async def _open_recording_prompt(self, turn: PreparedTurn) -> OpenedStream:
        """Step 4: the prompt's write and the provider's first token, at the same time."""
        prompt = asyncio.ensure_future(self._store.record_prompt(turn.conversation, turn.user_message(), new=turn.new))
        try:
            opened = await self._router.open(turn.spec, turn.completion_request)
        except Exception:
            await prompt  # stored even though no provider answered; a store that failed says so instead
            raise
        except BaseException:  # cancelled (the client went away, the server is stopping): so is the write
            prompt.cancel()
            await asyncio.gather(prompt, return_exceptions=True)
            raise
        try:
            await prompt
        except BaseException:
            await _close(opened.events)  # cancels the provider call: no reply without its prompt
            raise
        return opened

    async def _stream(
        self, turn: PreparedTurn, opened: OpenedStream, started: ReplyStarted
    ) -> AsyncIterator[ReplyEvent]:
        outcome = StreamOutcome()
        self._live.stream_opened()
        self._telemetry.stream_opened()
        next_check = self._clock.monotonic() + self._check_every
        try:
            yield started
            async with aclosing(relay(opened, outcome)) as deltas:
                async for delta in deltas:
                    yield delta
                    if self._revocations is not None and self._clock.monotonic() >= next_check:
                        next_check = self._clock.monotonic() + self._check_every
                        if await self._revocations.is_revoked(turn.request.user_id):
                            outcome.stopped = True
                            break
        finally:
            self._live.stream_ended()
            self._telemetry.stream_ended()
            if not outcome.ended and not outcome.stopped:  # the client went away (or the server is stopping):
                # account in the background, without awaiting here, where a cancelled caller would interrupt it.
                self._background.spawn(self._abandon(turn, opened, outcome))
        if outcome.stopped:
            await _close(opened.events)  # cancels the provider call
            outcome.ended = True
            log.info("chat.stopped_account_disabled", extra={"user_id": str(turn.request.user_id)})
        if outcome.failure is not None:
            self._router.record_midstream_failure(opened.provider)
            log.warning(
                "chat.provider_failed_midstream", extra={"provider": opened.provider, "error": str(outcome.failure)}
            )
        ended_at = self._clock.monotonic()
        try:
            message, quota = await self._background.shield(self._account(turn, opened, outcome))
        except Exception:  # the stream's headers are out: its own error event says it, not a cut stream
            log.exception("chat.reply_not_recorded", extra={"user_id": str(turn.request.user_id)})
            yield ReplyFailed(ReplyNotRecorded(), None, None)
            return
        self._observe(turn, opened, outcome, message, ended_at)
        if outcome.stopped:
            yield ReplyFailed(AccountRevoked(), message if message.content else None, quota)
        elif outcome.failure is None:
            yield ReplyFinished(message, quota, outcome.finish_reason(turn.prompt_estimate, turn.max_tokens))
        else:
            error = ProviderUnavailable("The model stopped answering mid-reply; what it wrote is kept and charged.")
            yield ReplyFailed(error, message if message.content else None, quota)

    async def _abandon(self, turn: PreparedTurn, opened: OpenedStream, outcome: StreamOutcome) -> None:
        ended_at = self._clock.monotonic()
        await _close(opened.events)  # cancels the provider call
        message, _ = await self._account(turn, opened, outcome)
        self._observe(turn, opened, outcome, message, ended_at)

    def _observe(
        self, turn: PreparedTurn, opened: OpenedStream, outcome: StreamOutcome, message: Message, ended_at: float
    ) -> None:
        """The live counters and the metrics of a provider's reply (in-process, nothing awaited)."""
        usage = message.usage
        self._live.reply_recorded(usage.total_tokens)
        if outcome.failure is not None:
            self._live.error()
        self._telemetry.reply_finished(
            opened.provider,
            turn.spec.id,
            latency_seconds=max(0.0, ended_at - opened.started_at),
            ttft_seconds=opened.ttft_ms / 1000,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            error=outcome.failure is not None,
        )

    async def _replay(self, turn: PreparedTurn, cached: CachedReply) -> ChatReply:
        await self._store.record_prompt(turn.conversation, turn.user_message(), new=turn.new)
        message, quota = await self._account.cached(turn, cached)
        self._live.reply_recorded(0)  # answered from the cache: no tokens generated
        started = ReplyStarted(turn.conversation.id, message.id, turn.spec.id, cached.provider)
        return ChatReply(started, _replay_events(started, message, quota, cached.finish_reason), cached=True)


async def _replay_events(
    started: ReplyStarted, message: Message, quota: QuotaStatus, finish_reason: str
) -> AsyncIterator[ReplyEvent]:
    yield started
    words = message.content.split(" ")
    for index, word in enumerate(words):
        yield ReplyDelta(word if index == len(words) - 1 else word + " ")
    yield ReplyFinished(message, quota, finish_reason)


async def _close(events: AsyncIterator[Any]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # the provider stream is being abandoned; its errors no longer matter
            log.debug("chat.provider_close_failed", exc_info=True)
