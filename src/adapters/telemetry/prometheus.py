"""The Telemetry port as Prometheus metrics (prometheus-client: observations are in-process and cheap).

Several API processes (`parley serve --workers N`) use prometheus-client's multiprocess mode: `parley serve`
points PROMETHEUS_MULTIPROC_DIR at a fresh directory under var/ before the processes start, each process writes
its samples to memory-mapped files there, and a scrape of any one of them sums every process's files
(`scrape_registry`), so counters and histograms are the totals of the machine's processes, whichever process
answers. One process (the default) keeps them in its registry alone."""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class PrometheusTelemetry:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._requests = Counter(
            "parley_provider_requests",
            "Attempts at a provider for a reply (a failover makes several)",
            ["provider", "model"],
            registry=registry,
        )
        self._errors = Counter(
            "parley_provider_errors",
            "Provider failures: before the first token (the router fails over) or mid-reply",
            ["provider", "model", "stage"],
            registry=registry,
        )
        self._latency = Histogram(
            "parley_provider_latency_seconds",
            "A provider reply's duration, from the first attempt to its last token",
            ["provider", "model"],
            registry=registry,
            buckets=LATENCY_BUCKETS,
        )
        self._ttft = Histogram(
            "parley_provider_ttft_seconds",
            "Time from the first attempt to a reply's first token (failovers included)",
            ["provider", "model"],
            registry=registry,
            buckets=TTFT_BUCKETS,
        )
        self._tokens = Counter(
            "parley_tokens",
            "Tokens of provider replies by kind (prompt, completion)",
            ["provider", "model", "kind"],
            registry=registry,
        )
        self._cache = Counter(
            "parley_response_cache_lookups",
            "Response cache lookups by result (hit, miss)",
            ["result"],
            registry=registry,
        )
        self._quota = Counter(
            "parley_quota_refusals", "Chat requests refused with 402: quota used up", ["plan"], registry=registry
        )
        self._plan = Counter(
            "parley_plan_refusals",
            "Chat requests refused with 403: the plan does not include the model",
            ["plan", "model"],
            registry=registry,
        )
        # livesum: in multiprocess mode a scrape adds up the live processes' values (a dead one's go with it).
        self._streams = Gauge(
            "parley_streams_open", "Replies streaming to clients now", registry=registry, multiprocess_mode="livesum"
        )
        self._jobs = Histogram(
            "parley_job_duration_seconds",
            "Background jobs' durations by topic and outcome (ok, failed)",
            ["topic", "outcome"],
            registry=registry,
            buckets=JOB_BUCKETS,
        )

    def provider_called(self, provider: str, model: str, *, failed: bool) -> None:
        self._requests.labels(provider, model).inc()
        if failed:
            self._errors.labels(provider, model, "first_token").inc()

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
        self._latency.labels(provider, model).observe(latency_seconds)
        self._ttft.labels(provider, model).observe(ttft_seconds)
        if prompt_tokens:
            self._tokens.labels(provider, model, "prompt").inc(prompt_tokens)
        if completion_tokens:
            self._tokens.labels(provider, model, "completion").inc(completion_tokens)
        if error:
            self._errors.labels(provider, model, "midstream").inc()

    def cache_lookup(self, *, hit: bool) -> None:
        self._cache.labels("hit" if hit else "miss").inc()

    def quota_refused(self, plan: str) -> None:
        self._quota.labels(plan).inc()

    def plan_refused(self, plan: str, model: str) -> None:
        self._plan.labels(plan, model).inc()

    def job_finished(self, topic: str, seconds: float, *, ok: bool) -> None:
        self._jobs.labels(topic, "ok" if ok else "failed").observe(seconds)

    def stream_opened(self) -> None:
        self._streams.inc()

    def stream_ended(self) -> None:
        self._streams.dec()


class _Gauges(Collector):
    def __init__(self, gauges: Mapping[str, tuple[str, float]]) -> None:
        self._gauges = gauges

    def collect(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(name, help_text, value=value) for name, (help_text, value) in self._gauges.items()]


def scrape_registry(registry: CollectorRegistry) -> CollectorRegistry:
    """What a scrape reports: in multiprocess mode every process's samples (read from the shared directory),
    else this process's registry."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return registry
    summed = CollectorRegistry()
    MultiProcessCollector(summed, path=directory)  # type: ignore[no-untyped-call]
    return summed


def exposition(registry: CollectorRegistry, gauges: Mapping[str, tuple[str, float]] | None = None) -> bytes:
    """The Prometheus text of a scrape, with `gauges` ({name: (help, value)}) read at scrape time."""
    text = generate_latest(scrape_registry(registry))
    if gauges:
        extra = CollectorRegistry()
        extra.register(_Gauges(gauges))
        text += generate_latest(extra)
    return text
