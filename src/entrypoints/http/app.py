"""The Litestar application factory. `create_app(container)` builds the ASGI app; `asgi()` is what
uvicorn loads (it reads settings and bootstraps at call time, never at import time)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.admin import AdminController
from entrypoints.http.analytics import AnalyticsController
from entrypoints.http.analytics_live import analytics_live
from entrypoints.http.anthropic_compat import MESSAGES_EXCEPTION_HANDLERS, is_messages_path, messages_router
from entrypoints.http.billing import BillingController
from entrypoints.http.client_ip import parse_networks
from entrypoints.http.coalescing import CoalescingMiddleware
from entrypoints.http.conversation import ChatController, ConversationController, models, usage
from entrypoints.http.dependencies import DEPENDENCIES, provide_rate_limits
from entrypoints.http.identity import ApiKeyController, AuthController
from entrypoints.http.json_input import JsonRequest
from entrypoints.http.middleware import HttpMetrics, RequestContextMiddleware
from entrypoints.http.openai_compat import V1_EXCEPTION_HANDLERS, v1_router
from entrypoints.http.operations import health, metrics, ready
from entrypoints.http.problems import EXCEPTION_HANDLERS
from entrypoints.http.rate_limits import RateLimits, add_rate_limit_headers
from entrypoints.http.shutdown import Drain, drain_on_signals
from entrypoints.http.unsubscribe import unsubscribe
from entrypoints.logging import configure_logging
from entrypoints.observability.tracing import configure_tracing, shutdown_tracing, traced_app
from entrypoints.settings import Settings
from entrypoints.web.routes import web_routes, web_state_of
from entrypoints.worker.actors import JobRuntime, declare_actors
from entrypoints.worker.loops import RepeatingTask
from entrypoints.worker.main import background_loops

GC_THRESHOLDS = (50_000, 20, 100)
"""The garbage collector's thresholds once the app has started (Python's defaults: 700, 10, 10)."""
log = logging.getLogger("parley.app")


def create_litestar(container: Container, *, run_jobs_in_process: bool | None = None) -> Litestar:
    settings = container.settings
    in_process = settings.broker_url is None if run_jobs_in_process is None else run_jobs_in_process

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        runtime = JobRuntime(settings, container.broker, _shared_overrides(container)) if in_process else None
        declare_actors(container.broker, settings.jobs_queue, runtime)
        worker = None
        if runtime is not None:
            from dramatiq import Worker

            worker = Worker(container.broker, worker_threads=2, worker_timeout=200)
            worker.start()
        loops = [*background_loops(container), _live_flush(container)]
        tasks = [asyncio.create_task(task.run(), name=task.name) for task in loops]
        log.info("app.started", extra={"jobs": "in-process" if in_process else "broker"})
        # What start-up built (modules, the app, the container) lives as long as the process: freezing it keeps
        # the garbage collector from scanning it again on every collection of the older generations. A request
        # allocates a few thousand objects, nearly all freed by reference counting: collecting the youngest
        # generation every 50,000 allocations instead of 700 (and the older ones more rarely) spends 3-4% less
        # CPU a chat reply at 32 concurrent (bench/README.md), for at most a few MB of cyclic garbage kept longer.
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        try:
            with drain_on_signals(app.state.drain):
                yield
        finally:
            gc.set_threshold(*thresholds)  # an app run inside another program (a test) hands them back
            app.state.drain.begin()
            await container.background.drain()
            for task in loops:
                task.stop()
            await asyncio.gather(*tasks)
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            await container.aclose()
            log.info("app.stopped")
            shutdown_tracing()

    return Litestar(
        route_handlers=[
            AuthController,
            ApiKeyController,
            ChatController,
            ConversationController,
            usage,
            models,
            BillingController,
            AdminController,
            analytics_live,
            unsubscribe,
            AnalyticsController,
            v1_router(),
            messages_router(),
            health,
            ready,
            metrics,
            *web_routes(),
        ],
        dependencies={
            **{name: Provide(provide, sync_to_thread=False) for name, provide in DEPENDENCIES.items()},
            "rate_limits": Provide(provide_rate_limits, sync_to_thread=False),
        },
        exception_handlers=_exception_handlers(),
        request_class=JsonRequest,  # every JSON body is decoded (and refused) there
        before_send=[add_rate_limit_headers],
        lifespan=[lifespan],
        state=State(_state(container)),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Parley",
            version="0.1.0",
            description="Self-hostable AI chat SaaS backend.",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
        ),
        logging_config=None,  # logging is configured once per process by entrypoints.logging
        debug=False,
    )


def _exception_handlers() -> dict[Any, Any]:
    """Problem details, except under /v1, where even a path that matches no route (404) or a method a route does
    not answer (405) gets OpenAI's error body (Anthropic's under /v1/messages): the SDKs show its message, not a
    bare status."""
    return {
        error: _by_path(handler, V1_EXCEPTION_HANDLERS[error], MESSAGES_EXCEPTION_HANDLERS[error])
        for error, handler in EXCEPTION_HANDLERS.items()
    }


def _by_path(api: Any, v1: Any, messages: Any) -> Any:
    def handle(request: Request[Any, Any, Any], exc: Exception) -> Any:
        path: str = request.scope["path"]
        if is_messages_path(path):
            return messages(request, exc)
        return v1(request, exc) if path == "/v1" or path.startswith("/v1/") else api(request, exc)

    return handle


def _live_flush(container: Container) -> RepeatingTask:
    """This process's live counts and heartbeat, sent to the shared store about every second."""

    async def flush() -> int:
        await container.live.flush()
        return 0

    return RepeatingTask("live-counters", flush, container.settings.live_flush_seconds)


def _state(container: Container) -> dict[str, Any]:
    settings = container.settings
    return {
        "container": container,
        "metrics_registry": container.metrics_registry,
        "rate_limits": RateLimits(
            container.rate_limiter,
            enabled=settings.rate_limit_enabled,
            trusted_proxies=parse_networks(settings.trusted_proxies),
        ),
        "drain": Drain(),
        "web": web_state_of(container),
    }


def _shared_overrides(container: Container) -> dict[str, Any]:
    """The in-process job runner gets the same overrides the API was built with; whatever was not
    overridden (the SQL engine above all, which is bound to its event loop) it builds on its own loop. It
    shares the API's telemetry, so the jobs' metrics show on this process's /metrics, and, on the embedded
    default, its in-process quota ledger: a grant made by `parley users grant` (another process) reaches the
    counters this process checks through its job."""
    shared: dict[str, Any] = {"telemetry": container.telemetry}
    if not container.settings.redis_url:
        shared["ledger"] = container.ledger
    return {**container.overrides, **shared}


def create_app(container: Container, *, run_jobs_in_process: bool | None = None) -> Any:
    litestar = create_litestar(container, run_jobs_in_process=run_jobs_in_process)
    registry = litestar.state.metrics_registry
    app: Any = RequestContextMiddleware(CoalescingMiddleware(litestar), HttpMetrics(registry))
    if container.settings.sentry_dsn:  # the Sentry SDK (about 20 MiB resident) is imported only to report errors
        from entrypoints.observability.sentry import report_errors

        app = report_errors(app, container)
    return traced_app(app)


def asgi() -> Any:
    """uvicorn factory: `uvicorn --factory entrypoints.http.app:asgi`."""
    settings = Settings()
    configure_logging(settings)
    configure_tracing("parley-api")
    return create_app(bootstrap(settings))
