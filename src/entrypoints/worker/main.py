"""`parley worker`: runs the Dramatiq actors and the outbox relay against the configured broker."""

from __future__ import annotations

import asyncio
import logging
import signal
from wsgiref.simple_server import WSGIServer

from dramatiq import Worker

from entrypoints.bootstrap import Container, bootstrap
from entrypoints.logging import configure_logging
from entrypoints.observability.tracing import configure_tracing, shutdown_tracing
from entrypoints.settings import Settings
from entrypoints.worker.actors import JobRuntime, declare_actors
from entrypoints.worker.loops import RepeatingTask

log = logging.getLogger("parley.worker")


def background_loops(container: Container) -> list[RepeatingTask]:
    """The loops every API and worker process runs: the outbox relay, the billing cycle and the analytics
    export (all safe to run in any number of processes at once: the export takes its lock, and the others
    skip a run while one process holds it). The export's first run waits one interval after start-up."""
    settings = container.settings
    loops = [
        RepeatingTask("outbox-relay", container.relay_outbox, settings.outbox_poll_seconds),
        RepeatingTask("billing-cycle", container.billing.run_cycle, settings.billing_cycle_seconds),
    ]
    interval = settings.analytics_export_interval_seconds
    if interval > 0:
        loops.append(
            RepeatingTask("analytics-export", container.analytics.run_export, interval, start_delay_seconds=interval)
        )
    return loops


def serve_metrics(container: Container) -> WSGIServer | None:
    """The worker's own /metrics (job durations by topic and outcome), when PARLEY_WORKER_METRICS_PORT is set:
    prometheus-client's HTTP server, in a thread of its own."""
    settings = container.settings
    if settings.worker_metrics_port is None:
        return None
    from prometheus_client import start_http_server

    server, _ = start_http_server(
        settings.worker_metrics_port, settings.worker_metrics_host, registry=container.metrics_registry
    )
    log.info("worker.metrics", extra={"port": settings.worker_metrics_port})
    return server


def run_worker(settings: Settings, threads: int = 4) -> None:
    configure_logging(settings)
    configure_tracing("parley-worker")
    if not settings.broker_url:
        raise SystemExit(
            "parley worker needs PARLEY_BROKER_URL (amqp://... or redis://...); "
            "the embedded default runs jobs inside `parley serve`."
        )
    if settings.sentry_dsn:  # the Sentry SDK is imported only to report errors
        from entrypoints.observability.sentry import init_sentry

        init_sentry(settings, "worker")
    try:
        asyncio.run(_main(settings, threads))
    finally:
        shutdown_tracing()


async def _main(settings: Settings, threads: int) -> None:
    container = bootstrap(settings)
    # The actors' container (built on the actors' own event loop) reports through this one's telemetry, which
    # PARLEY_WORKER_METRICS_PORT serves.
    runtime = JobRuntime(settings, container.broker, {"telemetry": container.telemetry})
    metrics = serve_metrics(container)
    declare_actors(container.broker, settings.jobs_queue, runtime)
    worker = Worker(container.broker, worker_threads=threads)
    worker.start()
    loops = background_loops(container)
    loop = asyncio.get_running_loop()

    def stop_all() -> None:
        for task in loops:
            task.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_all)
    log.info("worker.started", extra={"threads": threads})
    try:
        await asyncio.gather(*(task.run() for task in loops))
    finally:
        log.info("worker.stopping")
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
        await asyncio.to_thread(worker.stop)
        await container.aclose()
        container.broker.close()
        log.info("worker.stopped")
