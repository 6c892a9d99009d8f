"""Configuration from the environment and .env (pydantic-settings). Read when `Settings()` is built,
never at import time. Names are the documented PARLEY_* variables (docs/configuration.md); providers keep
their standard variable names."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_SCRIPT_URL = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/\-]*)?")

# Listening on every interface is no address to link to: the link names this machine instead.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "localhost", "[::]": "localhost"}  # noqa: S104


def local_url(host: str, port: int) -> str:
    """`http://host:port` for a listening address: wildcards become this machine, IPv6 gets brackets."""
    host = _WILDCARD_HOSTS.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", env_file=".env", extra="ignore", populate_by_name=True)

    var_dir: Path = Path("var")
    database_url: str | None = None
    database_pool_size: int = 20
    database_max_overflow: int = 10
    redis_url: str | None = None
    redis_prefix: str = "parley:"
    broker_url: str | None = None
    jobs_queue: str = "parley-jobs"
    public_url: str = "http://127.0.0.1:8000"
    """Base of the links in emails and pages. Unset, `parley serve` makes it its own --host and --port
    (`served_public_url`); other commands (the worker) keep this default."""
    secret_key: str | None = None
    secret_keys_old: Annotated[list[str], NoDecode] = Field(default_factory=list)

    email_backend: Literal["file", "smtp", "ses"] = "file"
    email_from: str = "Parley <no-reply@parley.localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_tls: bool = False
    smtp_timeout_seconds: float = 10.0
    ses_region: str = "us-east-1"

    openai_api_key: str | None = Field(default=None, validation_alias=AliasChoices("OPENAI_API_KEY"))
    openai_base_url: str | None = Field(default=None, validation_alias=AliasChoices("OPENAI_BASE_URL"))
    anthropic_api_key: str | None = Field(default=None, validation_alias=AliasChoices("ANTHROPIC_API_KEY"))
    anthropic_base_url: str | None = Field(default=None, validation_alias=AliasChoices("ANTHROPIC_BASE_URL"))
    default_model: str | None = None
    models_file: Path | None = None
    openai_models: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["gpt-4o-mini", "gpt-4o"])
    anthropic_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["claude-3-5-haiku-latest", "claude-sonnet-4-5"]
    )
    openai_embedding_models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["text-embedding-3-small", "text-embedding-3-large"]
    )
    """The OpenAI embedding models offered (for /v1/embeddings) when OpenAI is configured; the first on every plan."""
    model_prices: dict[str, tuple[int, int]] = Field(default_factory=dict)
    """JSON {"model": [input, output]}: US cents per million tokens, over the default catalogue's list prices."""
    provider_connect_timeout_seconds: float = 5.0
    provider_read_timeout_seconds: float = 60.0
    demo_delay_ms: int = 15
    quota_hold_ttl_seconds: int = 3600
    stream_log_ttl_seconds: int = 300

    stripe_secret_key: str | None = Field(default=None, validation_alias=AliasChoices("STRIPE_SECRET_KEY"))
    stripe_webhook_secret: str | None = Field(default=None, validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET"))
    stripe_api_base: str | None = None
    stripe_publishable_key: str | None = Field(default=None, validation_alias=AliasChoices("STRIPE_PUBLISHABLE_KEY"))
    """The `pk_` key the billing page hands Stripe.js: with STRIPE_SECRET_KEY, cards go through Stripe's
    Payment Element. Public by design, so it is refused unless it is one (a secret key would reach every page)."""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    """Where the billing page loads Stripe.js from; its origin is written into that page's CSP."""
    stripe_price_plus: str | None = None
    stripe_price_pro: str | None = None
    stripe_price_overage: str | None = None
    plans_file: Path | None = None
    stripe_prices: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    """`team=price_...,enterprise=price_...`: Stripe prices of plans beyond plus and pro (PARLEY_PLANS_FILE)."""
    overage_cents_per_1k_tokens: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    """`plus=50,pro=30`: usage-based overage per plan (off when empty: the quota is a hard cap)."""
    overage_max_tokens: int = 1_000_000
    tax_rate_percent: float = 0.0
    billing_cycle_seconds: float = 60.0

    analytics_dir: str | None = None
    """A local directory or `s3://bucket/prefix` (credentials: the standard AWS variables)."""
    analytics_s3_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("PARLEY_ANALYTICS_S3_ENDPOINT", "AWS_ENDPOINT_URL")
    )
    """An S3-compatible store's endpoint (MinIO, R2, a test server): PARLEY_ANALYTICS_S3_ENDPOINT, else
    AWS_ENDPOINT_URL; unset: AWS itself."""
    analytics_export_interval_seconds: float = Field(default=300.0, ge=0)
    """How often the worker (and, embedded, `parley serve`) exports the facts; 0: never on a schedule."""
    analytics_retention_days: int = Field(default=7, ge=0)
    """How long exported facts stay in the database as well as in Parquet."""
    analytics_late_seconds: float = Field(default=300.0, ge=0)
    """How long after its occurred_at a fact's transaction may still commit: a day counts as completely
    exported once exported this long after it ended, and the warehouse reads the database from this long
    before the newest partial export."""
    analytics_tail_cache_seconds: float = Field(default=2.0, ge=0)
    analytics_memory_limit: str = "1GB"
    analytics_threads: int = Field(default=2, ge=1)
    rate_limit_enabled: bool = True
    require_verified_email: bool = True
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 1_048_576
    cache_ttl_seconds: int = 604_800
    stream_revocation_check_seconds: float = Field(default=2.0, gt=0)
    """How often a streaming reply checks (in the shared cache) whether its account was disabled meanwhile."""
    announcement_batch_size: int = Field(default=100, ge=1, le=10_000)
    """Recipients one announcement job emails before it queues the next batch."""
    allowance_cache_seconds: float = Field(default=30.0, ge=0)
    """How long a user's allowance (quota and period) is reused between chat requests; 0 reads it every time."""

    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    outbox_poll_seconds: float = 1.0
    sentry_dsn: str | None = Field(default=None, validation_alias=AliasChoices("SENTRY_DSN"))
    """Where error reports go (entrypoints.observability.sentry); unset: nowhere."""
    sentry_environment: str = Field(default="production", validation_alias=AliasChoices("SENTRY_ENVIRONMENT"))

    metrics_token: str | None = None
    """When set, GET /metrics answers only `Authorization: Bearer <this token>` (401 otherwise)."""
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """When set, `parley worker` serves its own Prometheus metrics (job durations) on this port."""
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from another pod; the NetworkPolicy decides who
    live_interval_seconds: float = Field(default=2.0, gt=0, le=5)
    """How often WebSocket /api/analytics/live pushes a snapshot (at most every 5 s, as the API promises)."""
    live_flush_seconds: float = Field(default=1.0, gt=0, le=2)
    """How often each API process sends its live counts (and its heartbeat) to Redis."""

    @field_validator("overage_cents_per_1k_tokens", "stripe_prices", mode="before")
    @classmethod
    def _split_pairs(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
            return {name.strip(): item.strip() for name, item in pairs}
        return value

    @field_validator("stripe_publishable_key", mode="before")
    @classmethod
    def _publishable_only(cls, value: object) -> object:
        if value in ("", None):
            return None
        if not isinstance(value, str) or not re.fullmatch(r"pk_(test|live)_[A-Za-z0-9_]+", value):
            raise ValueError("STRIPE_PUBLISHABLE_KEY must be a Stripe publishable key (pk_test_... or pk_live_...)")
        return value

    @field_validator("stripe_js_url")
    @classmethod
    def _plain_script_url(cls, value: str) -> str:
        """It goes into a Content-Security-Policy header: an http(s) URL with a plain host, nothing else."""
        if not _SCRIPT_URL.fullmatch(value):
            raise ValueError("PARLEY_STRIPE_JS_URL must be an http(s) URL such as https://js.stripe.com/v3/")
        return value

    @field_validator("model_prices")
    @classmethod
    def _prices_not_negative(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        if any(price < 0 for pair in value.values() for price in pair):
            raise ValueError("prices are cents per million tokens, 0 or more")
        return value

    @field_validator(
        "secret_keys_old",
        "trusted_proxies",
        "openai_models",
        "anthropic_models",
        "openai_embedding_models",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        return _csv(value)

    # --- derived -----------------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'parley.db').resolve()}"

    def served_public_url(self, host: str, port: int) -> str:
        """PARLEY_PUBLIC_URL when it is set (environment or .env), else where `parley serve --host --port`
        answers: a wildcard host (0.0.0.0, ::) is not an address to link to, so the link names this machine
        (127.0.0.1, or localhost for IPv6)."""
        if "public_url" in self.model_fields_set:
            return self.public_url
        return local_url(host, port)

    @property
    def mail_dir(self) -> Path:
        return self.var_dir / "mail"

    @property
    def resolved_analytics_dir(self) -> str:
        """PARLEY_ANALYTICS_DIR: `s3://bucket/prefix` as it is, a local directory made absolute."""
        location = self.analytics_dir or str(self.var_dir / "analytics")
        return location if location.startswith("s3://") else str(Path(location).resolve())

    @property
    def is_embedded(self) -> bool:
        """True when nothing shared across processes is configured (one process does everything)."""
        return not self.redis_url and not self.broker_url

    def resolved_secret_key(self) -> str:
        """PARLEY_SECRET_KEY, or one generated once and kept under var_dir (mode 0600)."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key)
        return key
