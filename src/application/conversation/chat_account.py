"""Accounting for a reply: record the reply, its usage and what it causes in one transaction while the quota
ledger is settled with the real usage (at the same time: one wait instead of two). What the reply causes
(a quota threshold crossed, overage on a plan that bills it, crossings.py) is decided by the store on the
user's durable period total before and after this record, in the record's own transaction: the record and
the messages it causes are stored together or not at all. A complete reply is then cached.

The ledger counts the tokens whether or not the record is stored at once, so recording is tried again after a
database blink (recording.py): a reply is stored once at most, and not lost to a blink."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from application.conversation.chat_prepare import PreparedTurn
from application.conversation.chat_store import ChatStore
from application.conversation.chat_stream import StreamOutcome
from application.conversation.crossings import Crossing, quota_crossings
from application.conversation.quota import QuotaGate
from application.conversation.recording import RECORD_RETRY_DELAYS, record_with_retries
from application.conversation.response_cache import CachedReply, ResponseCache
from application.conversation.router import NoProviderAnswered, OpenedStream
from application.shared.allowance import QuotaStatus
from application.shared.facts import Fact, FactKind, fact_id
from domain.conversation.errors import ProviderUnavailable
from domain.conversation.model import Message, Role, Usage
from domain.conversation.ports import UsageRecord
from domain.shared.clock import Clock
from domain.shared.ids import new_id

log = logging.getLogger("parley.chat")


class AccountReply:
    def __init__(
        self,
        quota: QuotaGate,
        store: ChatStore,
        cache: ResponseCache,
        clock: Clock,
        retry_delays: Sequence[float] = RECORD_RETRY_DELAYS,
    ) -> None:
        self._quota = quota
        self._store = store
        self._cache = cache
        self._clock = clock
        self._retry_delays = retry_delays

    async def __call__(
        self, turn: PreparedTurn, opened: OpenedStream, outcome: StreamOutcome
    ) -> tuple[Message, QuotaStatus]:
        usage = outcome.usage(turn.prompt_estimate)
        message = _reply(turn, outcome.content, usage, opened.provider, self._clock.now(), cached=False)
        latency_ms = round((self._clock.monotonic() - opened.started_at) * 1000)
        assert turn.reservation is not None
        record = _record(turn, message, latency_ms, opened.ttft_ms, opened.failovers, turn.spec.cost_micros(usage))
        user_id, granted = turn.request.user_id, turn.reservation.granted
        crossings = quota_crossings(user_id, turn.allowance, granted, record.id, message.created_at)
        reason = outcome.reason_for(usage, turn.max_tokens)
        error = ProviderUnavailable.code if outcome.failure is not None else None
        fact = replied_fact(turn, record, reason, error)
        recording = self._record_reply(message if message.content else None, record, crossings, fact)
        quota = await self._quota.settle(turn.reservation, usage.total_tokens, turn.allowance, recording=recording)
        complete = outcome.ended and outcome.failure is None and not outcome.stopped
        if complete and message.content:
            await self._cache.put(turn.cache_key, CachedReply(message.content, usage, opened.provider, reason))
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

    async def _record_reply(
        self, message: Message | None, record: UsageRecord, crossings: Sequence[Crossing], fact: Fact
    ) -> None:
        await record_with_retries(
            lambda: self._store.record_reply(message, record, facts=(fact,), crossings=crossings),
            self._retry_delays,
            log=log,
            event="chat.record_retry",
            usage_id=record.id,
        )

    async def cached(self, turn: PreparedTurn, cached: CachedReply) -> tuple[Message, QuotaStatus]:
        """A reply from the cache: stored and recorded as a request, costing no quota."""
        message = _reply(turn, cached.content, cached.usage, cached.provider, self._clock.now(), cached=True)
        record = _record(turn, message, None, None, 0, 0)  # no provider was called: it costs nothing
        fact = replied_fact(turn, record, cached.finish_reason, None)
        await self._store.record_reply(message, record, (), (fact,))
        return message, await self._quota.status(turn.request.user_id, turn.allowance)

    async def unanswered(self, turn: PreparedTurn, failure: ProviderUnavailable) -> None:
        """Every provider failed before answering: nothing is stored or charged but the message.replied fact
        (no tokens, `error` set). A failure to record it is logged, never raised over the client's answer."""
        provider = failure.provider if isinstance(failure, NoProviderAnswered) else None
        record = UsageRecord(
            id=new_id(),
            user_id=turn.request.user_id,
            message_id=None,
            model=turn.spec.id,
            provider=provider or "",
            usage=Usage(0, 0),
            cached=False,
            period_start=turn.allowance.period_start,
            created_at=self._clock.now(),
            latency_ms=failure.latency_ms if isinstance(failure, NoProviderAnswered) else None,
            failovers=failure.failovers if isinstance(failure, NoProviderAnswered) else 0,
        )
        fact = replied_fact(turn, record, "error", failure.code)
        try:
            await self._store.record_facts((fact,))
        except Exception as exc:
            log.warning("chat.fact_not_recorded", extra={"error": type(exc).__name__})


def replied_fact(turn: PreparedTurn, record: UsageRecord, finish_reason: str, error: str | None) -> Fact:
    """The reply's message.replied fact; its id is the usage record's, so a retried record stores it once."""
    kind = FactKind.MESSAGE_REPLIED
    return Fact(
        id=fact_id(kind, str(record.id)),
        kind=kind,
        occurred_at=record.created_at,
        user_id=record.user_id,
        data={
            "conversation_id": str(turn.conversation.id),
            "plan": turn.allowance.plan,
            "model": record.model,
            "provider": record.provider or None,
            "prompt_tokens": record.usage.prompt_tokens,
            "completion_tokens": record.usage.completion_tokens,
            "cost_micros": record.cost_micros,
            "latency_ms": record.latency_ms,
            "ttft_ms": record.ttft_ms,
            "failovers": record.failovers,
            "cached": record.cached,
            "finish_reason": finish_reason,
            "error": error,
        },
    )


def _reply(turn: PreparedTurn, content: str, usage: Usage, provider: str, now: datetime, *, cached: bool) -> Message:
    return Message(
        id=turn.message_id,
        conversation_id=turn.conversation.id,
        user_id=turn.request.user_id,
        role=Role.ASSISTANT,
        content=content,
        created_at=now,
        model=turn.spec.id,
        provider=provider,
        usage=usage,
        cached=cached,
    )


def _record(
    turn: PreparedTurn, message: Message, latency_ms: int | None, ttft_ms: int | None, failovers: int, cost: int
) -> UsageRecord:
    return UsageRecord(
        id=new_id(),
        user_id=turn.request.user_id,
        message_id=message.id if message.content else None,
        model=turn.spec.id,
        provider=message.provider or "",
        usage=message.usage,
        cached=message.cached,
        period_start=turn.allowance.period_start,
        created_at=message.created_at,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        failovers=failovers,
        cost_micros=cost,
    )
