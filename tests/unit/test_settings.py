"""Settings read from the environment: where the links in emails point (PARLEY_PUBLIC_URL when set, else where
`parley serve` listens) and the Stripe.js settings the billing page trusts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from entrypoints.settings import Settings


@pytest.fixture(autouse=True)
def _no_public_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_PUBLIC_URL", raising=False)


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8123, "http://127.0.0.1:8123"),
        ("0.0.0.0", 9000, "http://127.0.0.1:9000"),
        ("::", 9000, "http://localhost:9000"),
        ("::1", 8000, "http://[::1]:8000"),
        ("parley.internal", 80, "http://parley.internal:80"),
    ],
)
def test_unset_the_public_url_is_where_serve_listens(host: str, port: int, url: str) -> None:
    assert Settings(_env_file=None).served_public_url(host, port) == url


def test_an_explicit_public_url_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("PARLEY_PUBLIC_URL=https://from-dotenv.example.com\n")
    assert Settings(_env_file=dotenv).served_public_url("0.0.0.0", 9000) == "https://from-dotenv.example.com"

    monkeypatch.setenv("PARLEY_PUBLIC_URL", "https://chat.example.com")
    assert Settings(_env_file=None).served_public_url("0.0.0.0", 9000) == "https://chat.example.com"


def test_a_secret_key_given_as_the_publishable_key_is_refused_before_it_reaches_a_page() -> None:
    with pytest.raises(ValidationError, match="STRIPE_PUBLISHABLE_KEY must be a Stripe publishable key"):
        Settings(_env_file=None, stripe_publishable_key="sk_live_abc123")
    assert Settings(_env_file=None, stripe_publishable_key="pk_live_abc123").stripe_publishable_key == "pk_live_abc123"
    assert Settings(_env_file=None, stripe_publishable_key="").stripe_publishable_key is None


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "https://js.stripe.com/v3/; script-src *", "//js.stripe.com/v3/", "ftp://x/"]
)
def test_a_stripe_js_url_that_is_not_a_plain_http_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="PARLEY_STRIPE_JS_URL must be an http"):
        Settings(_env_file=None, stripe_js_url=url)


def test_the_stripe_settings_read_their_documented_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_PUBLISHABLE_KEY", "pk_test_from_env")
    monkeypatch.setenv("PARLEY_STRIPE_JS_URL", "http://127.0.0.1:9999/v3/")
    settings = Settings(_env_file=None)
    assert (settings.stripe_publishable_key, settings.stripe_js_url) == (
        "pk_test_from_env",
        "http://127.0.0.1:9999/v3/",
    )
    assert Settings.model_fields["stripe_js_url"].default == "https://js.stripe.com/v3/"
