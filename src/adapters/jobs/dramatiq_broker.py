"""Dramatiq brokers by URL: RabbitMQ (amqp://, publisher confirms on), Redis (redis://), or the in-process
StubBroker for the embedded default. Every broker gets the AsyncIO middleware (our actors are async) and
the dead-letter alert middleware."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

log = logging.getLogger("parley.jobs")

RUN_JOB_ACTOR = "run_job"
TIME_LIMIT_MS = 60_000


class DeadLetterAlert(Middleware):
    """Logs (at ERROR, for alerting) a job that has used up its retries and goes to the dead-letter queue."""

    def after_nack(self, broker: dramatiq.Broker, message: Any) -> None:
        # A nack is Dramatiq giving up on a message (retries exhausted, or an error in `throws`):
        # the broker moves it to the dead-letter queue.
        error = getattr(message, "_exception", None)  # set by the worker before it nacks
        log.error(
            "job.dead_lettered",
            extra={
                "job_id": message.args[0] if message.args else None,
                "error": type(error).__name__ if error is not None else None,
                "retries": message.options.get("retries", 0),
            },
        )


def create_broker(url: str | None) -> dramatiq.Broker:
    broker: dramatiq.Broker
    if not url:
        broker = StubBroker()
    elif url.startswith(("amqp://", "amqps://")):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=url, confirm_delivery=True)
    elif url.startswith(("redis://", "rediss://")):
        from dramatiq.brokers.redis import RedisBroker

        # dramatiq's RedisBroker.__init__ has no annotations (RabbitmqBroker's has): nothing to type here.
        broker = RedisBroker(url=url)  # type: ignore[no-untyped-call]
    else:
        raise ValueError("PARLEY_BROKER_URL must be amqp://..., redis://... or unset")
    broker.add_middleware(AsyncIO())
    broker.add_middleware(DeadLetterAlert())
    return broker


def broker_ready(broker: dramatiq.Broker) -> bool:
    """A cheap liveness check of the broker connection (used by /ready)."""
    if isinstance(broker, StubBroker):
        return True
    try:
        if hasattr(broker, "channel"):  # RabbitMQ: opening the thread's channel proves the connection
            broker.channel  # noqa: B018
        else:
            broker.client.ping()  # type: ignore[attr-defined]
    except Exception:
        return False
    return True
