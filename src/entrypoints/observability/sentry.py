"""Error reports to Sentry, or anything that speaks its protocol (GlitchTip, a self-hosted Sentry): on when
SENTRY_DSN is set, off (the SDK not even imported, nothing wrapped) when it is not.

What is reported: every log record at ERROR that carries an exception, which is what a 500 (`http.unhandled_error`,
with the request's id) and a failed job (Dramatiq's "Failed to process message", with the traceback) log. Error
lines without an exception (a dependency outage, which /ready and the alerts already show) are not sent.

Each report carries the request id as the `request_id` tag (the `X-Request-ID` the client saw), the id of the
authenticated user (never the email or the IP address), and `component` (api or worker). Secrets are scrubbed
before anything leaves the process: the SDK never attaches local variables or request bodies, drops the
Authorization, Cookie and X-Api-Key headers, and every string of the event is scrubbed of bearer tokens, JWTs,
API keys (Parley's `prl_`, OpenAI's, Stripe's), `password=`/`token=`-style pairs and URL passwords; values under
keys that name a secret (password, token, secret, api_key, authorization, cookie...) are replaced whole."""

from __future__ import annotations

import logging
import re
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sentry_sdk
import structlog
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.integrations.logging import LoggingIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber
from sentry_sdk.types import Breadcrumb, BreadcrumbHint, Event, Hint

from application.identity.authenticate import Authenticate
from application.identity.dto import Principal
from entrypoints.bootstrap import Container
from entrypoints.settings import Settings

FILTERED = "[Filtered]"
DENYLIST = [
    *DEFAULT_DENYLIST,
    "access_token",
    "refresh_token",
    "secret_key",
    "secret_keys_old",
    "smtp_password",
    "stripe_secret_key",
    "stripe_webhook_secret",
    "openai_api_key",
    "anthropic_api_key",
    "metrics_token",
    "x-api-key",
    "dsn",
]
_SECRET_KEY = re.compile(r"pass|secret|token|api[_-]?key|authorization|cookie|credential|dsn", re.IGNORECASE)
_SECRET_TEXT = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + FILTERED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), FILTERED),  # a JWT
    (re.compile(r"\b(prl|sk|pk|rk|whsec)[_-][A-Za-z0-9_-]{6,}"), FILTERED),  # Parley, OpenAI, Anthropic, Stripe keys
    (
        re.compile(
            r"(?i)\b((?:password|passwd|secret|token|api[_-]?key|authorization|cookie|session)[a-z_]*[\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"'&,;]+"
        ),
        r"\1" + FILTERED,
    ),
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), r"\1" + FILTERED + "@"),  # postgresql://user:password@host
]
_LEFT_AS_IS = frozenset({"modules", "sdk"})  # installed packages and the SDK's own name: nothing to scrub

log = logging.getLogger("parley.observability")


def init_sentry(settings: Settings, component: str) -> bool:
    """Start reporting errors to SENTRY_DSN from this process (`component`: api or worker). False, and nothing
    done, when SENTRY_DSN is unset. Calling it again with the same DSN keeps the running client."""
    dsn = settings.sentry_dsn
    if not dsn:
        return False
    client = sentry_sdk.get_client()
    if client.is_active() and client.dsn == dsn:
        return True

    def before_send(event: Event, hint: Hint) -> Event | None:
        if "exception" not in event and hint.get("exc_info") is None:
            return None  # an error line without an exception: an outage, not a bug (see the module's docstring)
        tags = event.setdefault("tags", {})
        tags["component"] = component
        request_id = structlog.contextvars.get_contextvars().get("request_id") or event.get("extra", {}).get(
            "request_id"
        )
        if request_id:
            tags["request_id"] = str(request_id)
        scrubbed: Event = scrub(event)
        return scrubbed

    sentry_sdk.init(
        dsn=dsn,
        environment=settings.sentry_environment,
        release=f"parley@{_version()}",
        include_local_variables=False,  # a frame's locals hold tokens and passwords under any name
        max_request_body_size="never",
        auto_enabling_integrations=False,  # the integrations are the ones below, on the app create_app wraps
        integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
        event_scrubber=EventScrubber(denylist=DENYLIST, recursive=True),
        before_send=before_send,
        before_breadcrumb=_scrub_breadcrumb,
        traces_sample_rate=None,  # errors only: traces go to OpenTelemetry
    )
    log.info("sentry.enabled", extra={"component": component, "environment": settings.sentry_environment})
    return True


def report_errors(app: Any, container: Container) -> Any:
    """The ASGI app, reporting its errors when SENTRY_DSN is set: each request gets its own Sentry scope, which
    the authenticated user's id joins. Without SENTRY_DSN, `app` itself."""
    if not init_sentry(container.settings, "api"):
        return app
    identity = container.identity
    if not isinstance(identity.authenticate, _ReportingUser):
        identity.authenticate = _ReportingUser(identity.authenticate)
    return SentryAsgiMiddleware(app, mechanism_type="asgi")


class _ReportingUser(Authenticate):
    """Authenticate, which also names the authenticated user (by id only) on the request's Sentry scope."""

    def __init__(self, inner: Authenticate) -> None:  # delegates: nothing of Authenticate's own state is used
        self._inner = inner

    async def __call__(self, credential: str) -> Principal:
        principal = await self._inner(credential)
        sentry_sdk.set_user({"id": str(principal.user.id)})
        return principal


def scrub(value: Any, key: str = "") -> Any:
    """`value` with every secret it holds replaced by [Filtered] (see the module's docstring)."""
    if key and _SECRET_KEY.search(key) and value not in (None, "", [], {}):
        return FILTERED
    if isinstance(value, str):
        for pattern, replacement in _SECRET_TEXT:
            value = pattern.sub(replacement, value)
        return value
    if isinstance(value, dict):
        return {k: v if k in _LEFT_AS_IS else scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_pair(item) if _is_pair(item) else scrub(item) for item in value]
    return value


def _is_pair(item: Any) -> bool:
    return isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)


def _scrub_pair(item: Any) -> list[Any]:
    """A header as Sentry sends some of them: [name, value]."""
    name, value = item
    return [name, scrub(value, name)]


def _scrub_breadcrumb(crumb: Breadcrumb, _hint: BreadcrumbHint) -> Breadcrumb:
    scrubbed: Breadcrumb = scrub(crumb)
    return scrubbed


def _version() -> str:
    try:
        return version("parley")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree that was never installed
        return "unknown"
