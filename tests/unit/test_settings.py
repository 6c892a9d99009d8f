"""Where the links in emails point: PARLEY_PUBLIC_URL when set, else where `parley serve` listens."""

from __future__ import annotations

from pathlib import Path

import pytest

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
