"""Embed texts with an embedding model of the catalogue (/v1/embeddings), metered like a chat turn's prompt:

1. check the inputs (1 to 2,048, none empty, each within the model's context window) and the model against the
   plan; an embedding model only (a chat model is refused with 400 naming `model`);
2. reserve the inputs' token estimate on the quota ledger (the quota error when it does not fit);
3. ask the model's providers in route order (the next one only when a provider fails with a retryable error);
4. settle the ledger with the provider's count (the estimate when it reports none) while a usage record
   (completion 0; its cost at the model's prompt price) is recorded with the outbox messages it causes (a quota
   threshold crossed, overage: crossings.py), in one transaction (tried again after a database blink, as a
   reply's record is), so the usage shows in GET /api/usage like a reply's.
Every provider failing releases the reservation: nothing is charged."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeGuard
from uuid import UUID

from application.conversation.chat_store import ChatStore
from application.conversation.crossings import Crossing, quota_crossings
from application.conversation.quota import QuotaGate
from application.conversation.recording import RECORD_RETRY_DELAYS, record_with_retries
from application.shared.allowance import AllowanceProvider, QuotaStatus
from domain.conversation.catalogue import ModelCatalogue, ModelSpec
from domain.conversation.embedding import EmbeddingProvider, EmbeddingRequest, EmbeddingResult, check_inputs
from domain.conversation.errors import ProviderError, ProviderUnavailable
from domain.conversation.model import Usage
from domain.conversation.ports import UsageRecord
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput
from domain.shared.ids import new_id

log = logging.getLogger("parley.embeddings")


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    user_id: UUID
    plan: str
    model: str
    inputs: Sequence[str]
    dimensions: int | None = None


@dataclass(frozen=True, slots=True)
class Embeddings:
    model: str
    vectors: Sequence[Sequence[float]]
    prompt_tokens: int
    """What was metered: the provider's count, or the estimate when it reported none."""
    provider: str
    quota: QuotaStatus


class Embed:
    def __init__(
        self,
        catalogue: ModelCatalogue,
        providers: Mapping[str, object],
        allowance: AllowanceProvider,
        quota: QuotaGate,
        store: ChatStore,
        clock: Clock,
        retry_delays: Sequence[float] = RECORD_RETRY_DELAYS,
    ) -> None:
        self._catalogue = catalogue
        self._providers = {name: provider for name, provider in providers.items() if _embeds(provider)}
        self._allowance = allowance
        self._quota = quota
        self._store = store
        self._clock = clock
        self._retry_delays = retry_delays

    async def __call__(self, request: EmbedRequest) -> Embeddings:
        spec = self._catalogue.for_plan(request.model, request.plan, kind="embedding")
        _check_dimensions(spec, request.dimensions)
        estimate = check_inputs(request.inputs, spec.context_window)
        allowance = await self._allowance.current(request.user_id, request.plan, self._clock.now())
        reservation = await self._quota.reserve(request.user_id, allowance, estimate)
        started = self._clock.monotonic()
        try:
            provider, result = await self._ask(spec, request)
        except BaseException:
            await self._quota.release(reservation)
            raise
        tokens = result.prompt_tokens if result.prompt_tokens is not None else estimate
        now = self._clock.now()
        usage = Usage(prompt_tokens=tokens, completion_tokens=0)
        record = UsageRecord(
            id=new_id(),
            user_id=request.user_id,
            message_id=None,
            model=spec.id,
            provider=provider,
            usage=usage,
            cached=False,
            period_start=allowance.period_start,
            created_at=now,
            latency_ms=round((self._clock.monotonic() - started) * 1000),
            cost_micros=spec.cost_micros(usage),
        )
        crossings = quota_crossings(request.user_id, allowance, reservation.granted, record.id, now)
        quota = await self._quota.settle(reservation, tokens, allowance, recording=self._record(record, crossings))
        log.info(
            "embeddings.created",
            extra={"provider": provider, "model": spec.id, "inputs": len(request.inputs), "prompt_tokens": tokens},
        )
        return Embeddings(spec.id, result.vectors, tokens, provider, quota)

    async def _record(self, record: UsageRecord, crossings: Sequence[Crossing]) -> None:
        """The ledger counts the tokens, so the record is tried again after a database blink, as a chat reply's
        is (recording.py)."""
        await record_with_retries(
            lambda: self._store.record_reply(None, record, crossings=crossings),
            self._retry_delays,
            log=log,
            event="embeddings.record_retry",
            usage_id=record.id,
        )

    async def _ask(self, spec: ModelSpec, request: EmbedRequest) -> tuple[str, EmbeddingResult]:
        """The first provider of the route to answer; a non-retryable error (the request's fault) is final."""
        for step in spec.route:
            provider = self._providers.get(step.provider)
            if provider is None:
                continue
            upstream = EmbeddingRequest(step.upstream_model, request.inputs, request.dimensions)
            try:
                result = await provider.embed(upstream)
            except ProviderError as exc:
                log.warning(
                    "embeddings.failover",
                    extra={"provider": step.provider, "model": spec.id, "error": str(exc), "status": exc.status},
                )
                if exc.status in (400, 413, 422):  # the request's own fault: another provider would refuse it too
                    raise InvalidInput("input", f"The model's provider refused the input: {exc}") from exc
                if not exc.retryable:
                    raise ProviderUnavailable(f"The model's provider refused the request: {exc}") from exc
                continue
            if len(result.vectors) != len(request.inputs):
                raise ProviderUnavailable(
                    f"{step.provider} answered {len(result.vectors)} vectors for {len(request.inputs)} inputs."
                )
            return step.provider, result
        raise ProviderUnavailable(f"No provider for {spec.id} is answering right now; nothing was charged.")


def _embeds(provider: object) -> TypeGuard[EmbeddingProvider]:
    """Whether a configured provider serves embeddings too (the demo and OpenAI adapters do; Anthropic has none)."""
    return callable(getattr(provider, "embed", None))


def _check_dimensions(spec: ModelSpec, dimensions: int | None) -> None:
    if dimensions is None:
        return
    if not spec.custom_dimensions:
        raise InvalidInput("dimensions", f"{spec.id} does not support `dimensions`; leave it out.")
    most = spec.dimensions
    if dimensions < 1 or (most is not None and dimensions > most):
        raise InvalidInput("dimensions", f"Use 1 to {most} dimensions for {spec.id}." if most else "Use 1 or more.")
