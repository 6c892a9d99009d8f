"""The provider router: a model's route is an ordered list of providers; each is tried in turn until one
produces its first event. Failover happens only before the first token reaches the client; after that a
failure ends the reply. A circuit breaker per provider skips one that keeps failing."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from application.conversation.circuit_breaker import CircuitBreaker
from application.shared.telemetry import NoTelemetry, Telemetry
from domain.conversation.catalogue import ModelSpec, RouteStep
from domain.conversation.errors import ProviderError, ProviderUnavailable
from domain.conversation.ports import CompletionOptions, CompletionRequest, LlmProvider, StreamEvent

log = logging.getLogger("parley.llm")


@dataclass
class OpenedStream:
    provider: str
    first: StreamEvent | None
    """The first event, already received (None when the provider answered with nothing at all)."""
    events: AsyncIterator[StreamEvent]
    failovers: int
    started_at: float
    ttft_ms: int


class NoProviderAnswered(ProviderUnavailable):
    """Every provider of the model's route failed (or was skipped) before its first event."""

    def __init__(self, detail: str, *, provider: str | None, failovers: int, latency_ms: int) -> None:
        super().__init__(detail)
        self.provider = provider
        """The provider tried last (None when every one was skipped by its breaker or none is configured)."""
        self.failovers = failovers
        self.latency_ms = latency_ms


class ProviderRouter:
    def __init__(
        self,
        providers: Mapping[str, LlmProvider],
        breaker_factory: Callable[[], CircuitBreaker] = CircuitBreaker,
        clock: Callable[[], float] = time.perf_counter,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._breakers = {name: breaker_factory() for name in self._providers}
        self._clock = clock
        self._telemetry = telemetry or NoTelemetry()

    def breaker(self, provider: str) -> CircuitBreaker:
        return self._breakers[provider]

    def serves(self, spec: ModelSpec) -> bool:
        return any(step.provider in self._providers for step in spec.route)

    def unsupported(self, spec: ModelSpec, options: CompletionOptions) -> str | None:
        """The first option asked that a configured provider of the model's route cannot honour (any of them
        may end up answering), else None."""
        asked = options.asked()
        for step in spec.route:
            provider = self._providers.get(step.provider)
            if provider is not None:
                missing = next((name for name in asked if name not in provider.capabilities), None)
                if missing is not None:
                    return missing
        return None

    async def open(self, spec: ModelSpec, request_for: Callable[[RouteStep], CompletionRequest]) -> OpenedStream:
        started = self._clock()
        failovers = 0
        tried: str | None = None
        for step in spec.route:
            provider = self._providers.get(step.provider)
            if provider is None:
                continue
            breaker = self._breakers[step.provider]
            if not breaker.allow():
                log.info("llm.circuit_open", extra={"provider": step.provider, "model": spec.id})
                failovers += 1
                continue
            tried = step.provider
            events = provider.stream(request_for(step)).__aiter__()
            try:
                first: StreamEvent | None = await anext(events)
            except StopAsyncIteration:
                first = None
            except ProviderError as exc:
                self._telemetry.provider_called(step.provider, spec.id, failed=True)
                breaker.record_failure()
                failovers += 1
                log.warning(
                    "llm.failover",
                    extra={"provider": step.provider, "model": spec.id, "error": str(exc), "status": exc.status},
                )
                await _close(events)
                continue
            self._telemetry.provider_called(step.provider, spec.id, failed=False)
            breaker.record_success()
            ttft_ms = round((self._clock() - started) * 1000)
            return OpenedStream(step.provider, first, events, failovers, started, ttft_ms)
        raise NoProviderAnswered(
            f"No provider for {spec.id} is answering right now; nothing was charged.",
            provider=tried,
            failovers=failovers,
            latency_ms=round((self._clock() - started) * 1000),
        )

    def record_midstream_failure(self, provider: str) -> None:
        self._breakers[provider].record_failure()


async def _close(events: AsyncIterator[StreamEvent]) -> None:
    aclose = getattr(events, "aclose", None)
    if aclose is not None:
        await aclose()
