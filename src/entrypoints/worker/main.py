"""`parley worker`: runs the Dramatiq actors and the outbox relay against the configured broker."""

from __future__ import annotations

import asyncio
import logging
import signal

from dramatiq import Worker

from entrypoints.bootstrap import Container, bootstrap
from entrypoints.logging import configure_logging
from entrypoints.observability.sentry import init_sentry
from entrypoints.settings import Settings
from entrypoints.worker.actors import JobRuntime, declare_actors
from entrypoints.worker.loops import RepeatingTask

log = logging.getLogger("parley.worker")


def background_loops(container: Container) -> list[RepeatingTask]:
    """The loops every API and worker process runs: the outbox relay and the billing cycle (both safe to run
    in any number of processes at once)."""
    settings = container.settings
    return [
        RepeatingTask("outbox-relay", container.relay_outbox, settings.outbox_poll_seconds),
        RepeatingTask("billing-cycle", container.billing.run_cycle, settings.billing_cycle_seconds),
    ]


def run_worker(settings: Settings, threads: int = 4) -> None:
    configure_logging(settings)
    if not settings.broker_url:
        raise SystemExit(
            "parley worker needs PARLEY_BROKER_URL (amqp://... or redis://...); "
            "the embedded default runs jobs inside `parley serve`."
        )
    init_sentry(settings, "worker")
    asyncio.run(_main(settings, threads))


async def _main(settings: Settings, threads: int) -> None:
    container = bootstrap(settings)
    runtime = JobRuntime(settings, container.broker)
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
        await asyncio.to_thread(worker.stop)
        await container.aclose()
        container.broker.close()
        log.info("worker.stopped")
