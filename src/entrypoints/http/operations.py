"""/health (no dependencies touched), /ready (database, cache, broker), /metrics (Prometheus text)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST

from adapters.jobs.dramatiq_broker import broker_ready
from adapters.telemetry.prometheus import exposition
from application.shared.jobs import OutboxBacklog
from domain.identity.errors import Unauthenticated
from entrypoints.bootstrap import Container

log = logging.getLogger("parley.metrics")
CHECK_TIMEOUT_SECONDS = 2.0
OUTBOX_DEPTH_TIMEOUT_SECONDS = 1.0
# Litestar appends "; charset=utf-8" to every text/* media type itself: give it the type without one.
METRICS_MEDIA_TYPE = "; ".join(part for part in CONTENT_TYPE_LATEST.split("; ") if not part.startswith("charset="))


@get("/health", include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok"}


async def _check(probe: Any) -> str:
    try:
        ok = await asyncio.wait_for(probe, timeout=CHECK_TIMEOUT_SECONDS)
    except Exception:
        ok = False
    return "ok" if ok else "unavailable"


@get("/ready", include_in_schema=False)
async def ready(state: State) -> Response[dict[str, Any]]:
    container: Container = state.container
    if state.drain.started:
        return Response({"status": "draining"}, status_code=503)
    database, cache, broker = await asyncio.gather(
        _check(container.database_ping()),
        _check(container.cache.ping()),
        _check(asyncio.to_thread(broker_ready, container.broker)),
    )
    checks = {"database": database, "cache": cache, "broker": broker}
    ok = all(value == "ok" for value in checks.values())
    return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


@get("/metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    container: Container = state.container
    token = container.settings.metrics_token
    if token and not _bearer_is(request.headers.get("authorization", ""), token):
        raise Unauthenticated("Send `Authorization: Bearer <PARLEY_METRICS_TOKEN>`.")
    gauges = {}
    backlog = await _outbox_backlog(container)
    if backlog is not None:
        gauges["parley_outbox_depth"] = ("Outbox messages committed and not yet published", float(backlog.depth))
        age = 0.0 if backlog.oldest_at is None else (container.clock.now() - backlog.oldest_at).total_seconds()
        gauges["parley_outbox_oldest_age_seconds"] = ("Age of the oldest unpublished outbox message", max(0.0, age))
    if container.database_pool is not None:
        in_use, size = container.database_pool()
        gauges["parley_db_pool_in_use_connections"] = ("Database connections checked out (this process)", in_use)
        gauges["parley_db_pool_max_connections"] = ("Database connections this process may open", size)
    return Response(exposition(container.metrics_registry, gauges), media_type=METRICS_MEDIA_TYPE)


def _bearer_is(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


async def _outbox_backlog(container: Container) -> OutboxBacklog | None:
    """A COUNT and a MIN over the pending rows' partial index; a database that does not answer leaves the gauges
    out of this scrape (Prometheus then shows a gap, not a made-up zero)."""
    try:
        return await asyncio.wait_for(container.outbox_depth(), timeout=OUTBOX_DEPTH_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("metrics.outbox_depth_failed", extra={"error": type(exc).__name__})
        return None
