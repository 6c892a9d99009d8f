"""/health (no dependencies touched), /ready (database, cache, broker), /metrics (Prometheus text)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from adapters.jobs.dramatiq_broker import broker_ready
from entrypoints.bootstrap import Container

CHECK_TIMEOUT_SECONDS = 2.0
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
async def metrics(state: State) -> Response[bytes]:
    registry: CollectorRegistry = state.metrics_registry
    return Response(generate_latest(registry), media_type=METRICS_MEDIA_TYPE)
