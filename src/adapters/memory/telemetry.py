"""Telemetry kept as a list of what was told, for unit tests to read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RecordingTelemetry:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [fields for event, fields in self.events if event == name]

    def provider_called(self, provider: str, model: str, *, failed: bool) -> None:
        self.events.append(("provider_called", {"provider": provider, "model": model, "failed": failed}))

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
        fields = {
            "provider": provider,
            "model": model,
            "latency_seconds": latency_seconds,
            "ttft_seconds": ttft_seconds,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "error": error,
        }
        self.events.append(("reply_finished", fields))

    def cache_lookup(self, *, hit: bool) -> None:
        self.events.append(("cache_lookup", {"hit": hit}))

    def quota_refused(self, plan: str) -> None:
        self.events.append(("quota_refused", {"plan": plan}))

    def plan_refused(self, plan: str, model: str) -> None:
        self.events.append(("plan_refused", {"plan": plan, "model": model}))

    def job_finished(self, topic: str, seconds: float, *, ok: bool) -> None:
        self.events.append(("job_finished", {"topic": topic, "seconds": seconds, "ok": ok}))

    def stream_opened(self) -> None:
        self.events.append(("stream_opened", {}))

    def stream_ended(self) -> None:
        self.events.append(("stream_ended", {}))
