"""The dashboard and the alerts operators get (docs/operations): Prometheus's own tool accepts the rules and their
unit tests (each alert fires on synthetic series that break it, and stays quiet on healthy ones), Grafana finds in
the dashboard the fields it needs, every query parses as PromQL, and every metric they ask for is one a running
Parley exports (the app in-process, scraped after one chat). promtool must be installed (`make tools`): a missing
promtool fails, never skips."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from entrypoints.bootstrap import bootstrap
from entrypoints.settings import Settings
from tests.support.app import app_client, bearer

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations"
DASHBOARD = OPERATIONS / "grafana-dashboard.json"
ALERTS = OPERATIONS / "alerts.yaml"
ALERT_TESTS = OPERATIONS / "alerts-test.yaml"

# Every series the dashboard and the alerts read, in one place: test_every_metric_the_dashboard_and_the_alerts_use_
# is_exported fails and names any that Parley does not export.
HTTP_METRICS = {  # entrypoints.http.middleware
    "parley_http_requests_total",
    "parley_http_request_duration_seconds_bucket",
}
APPLICATION_METRICS = {  # the Telemetry port's Prometheus adapter, and the gauges /metrics reads at scrape time
    "parley_provider_requests_total",
    "parley_provider_errors_total",
    "parley_provider_latency_seconds_bucket",
    "parley_provider_ttft_seconds_bucket",
    "parley_tokens_total",
    "parley_response_cache_lookups_total",
    "parley_quota_refusals_total",
    "parley_outbox_depth",
    "parley_job_duration_seconds_bucket",
    "parley_job_duration_seconds_count",
    "parley_streams_open",
    "parley_db_pool_in_use_connections",
    "parley_db_pool_max_connections",
    "parley_outbox_oldest_age_seconds",
}
EXPECTED_METRICS = HTTP_METRICS | APPLICATION_METRICS
PROMETHEUS_OWN = {"up"}  # what Prometheus records about each scrape, not Parley

# The part of Grafana's dashboard model that provisioning needs and this dashboard uses.
DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "uid", "panels", "schemaVersion"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 30},
        "panels": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/panel"}},
    },
    "$defs": {
        "gridPos": {
            "type": "object",
            "required": ["x", "y", "w", "h"],
            "properties": {
                "x": {"type": "integer", "minimum": 0, "maximum": 23},
                "y": {"type": "integer", "minimum": 0},
                "w": {"type": "integer", "minimum": 1, "maximum": 24},
                "h": {"type": "integer", "minimum": 1},
            },
        },
        "panel": {
            "type": "object",
            "required": ["id", "type", "title", "gridPos"],
            "properties": {
                "id": {"type": "integer"},
                "type": {"type": "string", "minLength": 1},
                "title": {"type": "string", "minLength": 1},
                "gridPos": {"$ref": "#/$defs/gridPos"},
            },
            "if": {"properties": {"type": {"const": "row"}}},
            "else": {
                "required": ["targets", "datasource"],
                "properties": {
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["refId", "expr"],
                            "properties": {"refId": {"type": "string"}, "expr": {"type": "string", "minLength": 1}},
                        },
                    }
                },
            },
        },
    },
}


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: `make tools` (apt-get install prometheus) installs it")
    return promtool


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], capture_output=True, text=True, timeout=120, cwd=OPERATIONS)


def _dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return document


def _panels() -> list[dict[str, Any]]:
    return [panel for panel in _dashboard()["panels"] if panel["type"] != "row"]


def _dashboard_queries() -> list[str]:
    return [target["expr"] for panel in _panels() for target in panel["targets"]]


def _alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def _series(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, label names and values, keywords left out)."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_labels)
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\b(?!\s*\()", without_groupings))
    return {name for name in names if name.startswith("parley_") or name in PROMETHEUS_OWN}


def test_promtool_accepts_the_alert_rules() -> None:
    result = _run("check", "rules", ALERTS.name)

    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_on_the_series_that_break_it() -> None:
    result = _run("test", "rules", ALERT_TESTS.name)

    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname:\s*(\w+)", ALERT_TESTS.read_text()))
    assert tested == {rule["alert"] for rule in _alert_rules()}, "every alert has a unit test"


def test_the_alerts_cover_what_operators_are_paged_for() -> None:
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in _alert_rules()}

    assert severities == {
        "ParleyHighErrorRate": "critical",
        "ParleyHighLatencyP99": "warning",
        "ParleyDown": "critical",
        "ParleyDatabasePoolExhausted": "critical",
        "ParleyOutboxBacklog": "warning",
        "ParleyProviderErrorRate": "warning",
    }
    for rule in _alert_rules():
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_dashboard_has_what_grafana_requires() -> None:
    jsonschema.validate(_dashboard(), DASHBOARD_SCHEMA)

    ids = [panel["id"] for panel in _dashboard()["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in _panels():
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]


def test_the_dashboard_shows_what_the_operations_guide_promises() -> None:
    titles = " | ".join(panel["title"].lower() for panel in _panels())

    for subject in (
        "request rate",
        "p95 latency",
        "p99 latency",
        "error rate",
        "open reply streams",
        "tokens by model and provider",
        "provider latency p95",
        "time to first token p95",
        "cache hit ratio",
        "quota refusals",
        "outbox depth",
        "job durations",
        "database pool",
    ):
        assert subject in titles, subject


def test_every_dashboard_query_parses_as_promql(tmp_path: Path) -> None:
    """promtool has no `check query`: each query becomes a recording rule, which `check rules` parses."""
    rules = [
        {"record": f"parley:dashboard_query:{index}", "expr": expr} for index, expr in enumerate(_dashboard_queries())
    ]
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))

    result = _run("check", "rules", str(tmp_path / "queries.yaml"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_and_the_alerts_read_only_the_expected_series() -> None:
    used = set().union(*(_series(expr) for expr in [*_dashboard_queries(), *(r["expr"] for r in _alert_rules())]))

    assert used - PROMETHEUS_OWN == EXPECTED_METRICS


def _exported(text: str) -> set[str]:
    """Every series name a /metrics answer can hold, whether or not a sample was taken yet (a labelled metric
    that saw nothing shows its HELP and TYPE only)."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "summary": ["_sum", "_count"]}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in suffixes.get(family.type, [""]))
        names.update(sample.name for sample in family.samples)
    return names


async def test_every_metric_the_dashboard_and_the_alerts_use_is_exported(tmp_path: Path, sqlite_url: str) -> None:
    # On a SQL database: the pool gauges are a SQL engine's.
    settings = Settings(  # type: ignore[call-arg]
        var_dir=tmp_path,
        secret_key="k" * 48,
        database_url=sqlite_url,
        demo_delay_ms=0,
        require_verified_email=False,
        _env_file=None,
    )
    container = bootstrap(settings, mailer=InMemoryMailer(), hasher=Pbkdf2PasswordHasher())
    async with app_client(container) as client:
        # Through the app itself: its engine belongs to the app's event loop.
        account = {"email": "ops@example.com", "password": "correct horse battery staple"}
        assert (await client.post("/api/auth/signup", json=account)).status_code == 202
        token = (await client.post("/api/auth/signin", json=account)).json()["access_token"]
        chat = await client.post("/api/chat", json={"content": "Hello there, demo model."}, headers=bearer(token))
        assert chat.status_code == 200
        scrape = await client.get("/metrics")
    assert scrape.status_code == 200

    exported = _exported(scrape.text)

    assert 'route="/api/chat"' in scrape.text  # the chat was counted
    missing = EXPECTED_METRICS - exported
    assert not missing, f"the dashboard or the alerts read series Parley does not export: {sorted(missing)}"
