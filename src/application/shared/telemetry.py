"""What the application tells its operators, in its own words (the Prometheus adapter turns it into metrics).

Every method is synchronous and in-process, cheap enough for the chat path: nothing is awaited."""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    def provider_called(self, provider: str, model: str, *, failed: bool) -> None:
        """One attempt at a provider for a reply (a failover makes several); `failed` when it answered with an
        error before its first token."""
        ...

    def reply_finished(
        self,
        provider: str,
        model: str,
        *,
        latency_seconds: float,
        ttft_seconds: float,
        prompt_tokens: int,
        completion_tokens: int,
        error: bool,
    ) -> None:
        """A provider's reply ended: how long it took (from the first attempt to its end), how long until its
        first token, the tokens it cost, and whether the provider failed mid-reply."""
        ...

    def cache_lookup(self, *, hit: bool) -> None:
        """The response cache was asked for a reply."""
        ...

    def quota_refused(self, plan: str) -> None:
        """A chat request was refused because the quota is used up (402)."""
        ...

    def plan_refused(self, plan: str, model: str) -> None:
        """A chat request asked for a model the plan does not include (403)."""
        ...

    def job_finished(self, topic: str, seconds: float, *, ok: bool) -> None:
        """A background job ran (ok) or failed (to be retried)."""
        ...

    def stream_opened(self) -> None:
        """A reply began to stream to a client (it counts among the open streams until `stream_ended`)."""
        ...

    def stream_ended(self) -> None: ...


class NoTelemetry:
    """Tells nobody anything (the default of use cases built without telemetry)."""

    def provider_called(self, provider: str, model: str, *, failed: bool) -> None:
        pass

    def reply_finished(
        self,
        provider: str,
        model: str,
        *,
        latency_seconds: float,
        ttft_seconds: float,
        prompt_tokens: int,
        completion_tokens: int,
        error: bool,
    ) -> None:
        pass

    def cache_lookup(self, *, hit: bool) -> None:
        pass

    def quota_refused(self, plan: str) -> None:
        pass

    def plan_refused(self, plan: str, model: str) -> None:
        pass

    def job_finished(self, topic: str, seconds: float, *, ok: bool) -> None:
        pass

    def stream_opened(self) -> None:
        pass

    def stream_ended(self) -> None:
        pass
