"""The container files, read as Docker and Compose would read them (no Docker engine needed): the image
serves its embedded default with a migrated database; in compose the API processes and the worker start only after
the migration finished, only the API carries the image's HTTP health check, and everything the compose file, the
proxy's and Prometheus's and Grafana's configuration name exists: services, settings, ports, mounted files."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from entrypoints.cli import build_parser
from entrypoints.http.app import create_litestar
from entrypoints.settings import Settings
from tests.support.app import memory_container
from tests.support.settings import setting_names

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
API_SERVICES = ["api-1", "api-2"]
PARLEY_SERVICES = [*API_SERVICES, "worker", "migrate"]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments left out."""
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return document


def _cmd() -> list[str]:
    [cmd] = [arguments for instruction, arguments in _instructions() if instruction == "CMD"]
    command: list[str] = json.loads(cmd)  # the exec form: no shell between Docker and parley
    return command


def test_the_image_serves_and_migrates_first() -> None:
    command = _cmd()

    assert command[:2] == ["parley", "serve"]
    assert "--no-migrate" not in command
    args = build_parser().parse_args(command[1:])
    assert (args.host, args.port, args.no_migrate) == ("0.0.0.0", 8000, False)


def test_the_image_checks_the_health_route_of_the_port_it_serves() -> None:
    [healthcheck] = [arguments for instruction, arguments in _instructions() if instruction == "HEALTHCHECK"]
    [expose] = [arguments for instruction, arguments in _instructions() if instruction == "EXPOSE"]

    assert "/health" in healthcheck and f":{expose}/" in healthcheck and expose == "8000"


@pytest.mark.parametrize("service", [*API_SERVICES, "worker"])
def test_api_and_worker_wait_for_the_migration_and_the_services(service: str) -> None:
    depends_on = _compose()["services"][service]["depends_on"]

    assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
    assert depends_on["postgres"] == {"condition": "service_healthy"}
    assert depends_on["rabbitmq"] == {"condition": "service_healthy"}
    assert depends_on["redis"] == {"condition": "service_healthy"}


def test_the_migration_runs_once_after_the_database_is_up() -> None:
    migrate = _compose()["services"]["migrate"]

    assert migrate["command"] == ["parley", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "migrate" not in migrate["depends_on"]


@pytest.mark.parametrize("service", ["worker", "migrate"])
def test_containers_without_an_http_server_do_not_inherit_the_health_check(service: str) -> None:
    assert _compose()["services"][service]["healthcheck"] == {"disable": True}


@pytest.mark.parametrize("service", API_SERVICES)
def test_the_api_keeps_the_image_health_check(service: str) -> None:
    assert "healthcheck" not in _compose()["services"][service]


@pytest.mark.parametrize("service", PARLEY_SERVICES)
def test_every_parley_command_in_compose_is_one_the_cli_knows(service: str) -> None:
    definition = _compose()["services"][service]
    command = definition["command"]
    command = shlex.split(command) if isinstance(command, str) else command

    assert command[0] == "parley"
    build_parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command or option
    assert definition["environment"]["PARLEY_DATABASE_URL"].startswith("postgresql+asyncpg://")


# --- everything the compose file names exists ------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?]))?([^}]*)\}")


def _interpolated(value: str) -> str:
    """`${VAR:-default}` as compose reads it with VAR unset; `${VAR:?message}` (required) as a value set."""

    def replace(match: re.Match[str]) -> str:
        name, operator, rest = match.groups()
        if operator == "?":
            return f"{name.lower()}-" + "x" * 48  # what the operator provides (long enough for a secret key)
        return rest if operator == "-" else ""

    return _INTERPOLATION.sub(replace, value)


def _environment(service: str) -> dict[str, str]:
    environment = _compose()["services"][service].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {name: _interpolated(str(value)) for name, value in environment.items()}


def _command_args(service: str) -> Any:
    command = _compose()["services"][service]["command"]
    return build_parser().parse_args((shlex.split(command) if isinstance(command, str) else command)[1:])


def test_two_api_processes_and_the_worker_run_from_the_image_the_dockerfile_builds() -> None:
    services = _compose()["services"]

    for name in PARLEY_SERVICES:
        assert services[name]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}, name
        assert (DOCKER / services[name]["build"]["context"] / services[name]["build"]["dockerfile"]).is_file()
    for name in API_SERVICES:
        args = _command_args(name)
        assert (args.command, args.host, args.no_migrate, args.workers) == ("serve", "0.0.0.0", True, 1), name
    assert _command_args("worker").command == "worker"


def test_every_image_is_pinned_to_a_version() -> None:
    for name, service in _compose()["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and "/" not in tag, f"{name}: {image} names no version"


def test_every_dependency_is_a_service_and_every_data_service_reports_its_health() -> None:
    services = _compose()["services"]

    for name, service in services.items():
        for target, condition in service.get("depends_on", {}).items():
            assert target in services, f"{name} waits for {target}, which compose does not define"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[target] or "build" in services[target], f"{target} has no healthcheck"
                assert services[target].get("healthcheck", {}).get("disable") is not True, target
    for data in ("postgres", "redis", "rabbitmq"):
        assert services[data]["healthcheck"]["test"][0] == "CMD", data


@pytest.mark.parametrize("service", PARLEY_SERVICES)
def test_every_variable_compose_sets_is_a_setting_and_parses(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    environment = _environment(service)
    unknown = set(environment) - setting_names()
    assert not unknown, f"{service}: not read by entrypoints.settings.Settings: {sorted(unknown)}"

    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    assert settings.email_backend == "smtp" and settings.smtp_host == "mailpit"
    assert settings.database_url and settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.secret_key and len(settings.secret_key) >= 32


def test_every_parley_process_shares_one_required_secret_key() -> None:
    raw = {name: _compose()["services"][name]["environment"]["PARLEY_SECRET_KEY"] for name in PARLEY_SERVICES}

    assert len(set(raw.values())) == 1
    assert next(iter(raw.values())).startswith("${PARLEY_SECRET_KEY:?")  # compose refuses to start without it
    assert "PARLEY_SECRET_KEY=" in (DOCKER / "env.example").read_text()


def test_the_urls_parley_is_given_name_services_on_the_ports_they_listen_on() -> None:
    services = _compose()["services"]
    environment = _environment("worker")
    listening = {"postgres": 5432, "redis": 6379, "rabbitmq": 5672, "mailpit": 1025}

    for variable in ("PARLEY_DATABASE_URL", "PARLEY_REDIS_URL", "PARLEY_BROKER_URL"):
        match = re.search(r"@?([a-z0-9-]+):(\d+)/", environment[variable].split("://", 1)[1])
        assert match, variable
        host, port = match.group(1).split("@")[-1], int(match.group(2))
        assert host in services and listening[host] == port, variable
    assert int(environment["PARLEY_SMTP_PORT"]) == listening[environment["PARLEY_SMTP_HOST"]]
    assert "1025" in [str(port) for port in services["mailpit"]["expose"]]


def _mounts(service: str) -> dict[str, Path]:
    """The service's bind mounts (container path: host file), the named volumes left out."""
    mounts = {}
    for volume in _compose()["services"][service].get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts[target] = (DOCKER / source).resolve()
    return mounts


def test_every_file_compose_mounts_is_in_the_repository() -> None:
    for name in _compose()["services"]:
        for target, source in _mounts(name).items():
            assert source.exists(), f"{name} mounts {source} (at {target}), which is not in the repository"


def _nginx() -> str:
    return "\n".join(line.split("#", 1)[0] for line in (DOCKER / "nginx.conf").read_text().splitlines())


def _location(config: str, path: str) -> str:
    match = re.search(r"location\s+(?:=\s*)?" + re.escape(path) + r"\s*\{([^}]*)\}", config)
    assert match, f"nginx.conf has no location {path}"
    return match.group(1)


def test_the_proxy_publishes_the_port_it_listens_on_and_mounts_its_config() -> None:
    proxy = _compose()["services"]["proxy"]
    config = _nginx()
    [listen] = re.findall(r"^\s*listen\s+(\d+)\s*;", config, re.MULTILINE)
    [published] = proxy["ports"]

    assert published.split(":")[-1] == listen
    assert published.split(":")[0] == "8000"  # where PARLEY_PUBLIC_URL points by default
    assert _environment("api-1")["PARLEY_PUBLIC_URL"] == "http://localhost:8000"
    assert _mounts("proxy")["/etc/nginx/nginx.conf"] == DOCKER / "nginx.conf"
    assert f":{listen}/health" in " ".join(proxy["healthcheck"]["test"])


def test_the_proxy_balances_both_api_processes_on_the_port_they_serve() -> None:
    [upstream] = re.findall(r"upstream\s+(\w+)\s*\{([^}]*)\}", _nginx())
    servers = re.findall(r"server\s+([a-z0-9-]+):(\d+)", upstream[1])

    assert sorted(host for host, _ in servers) == API_SERVICES
    for host, port in servers:
        assert int(port) == _command_args(host).port
    assert set(_compose()["services"]["proxy"]["depends_on"]) == set(API_SERVICES)


def test_the_proxy_streams_replies_and_upgrades_the_live_websocket() -> None:
    config = _nginx()
    everything = _location(config, "/")
    live = _location(config, "/api/analytics/live")

    assert re.search(r"proxy_buffering\s+off;", everything), "server-sent events must not be buffered"
    read_timeout = int(re.search(r"proxy_read_timeout\s+(\d+)s;", everything).group(1))  # type: ignore[union-attr]
    assert read_timeout >= 300, "a streamed reply may be silent for minutes between events"
    assert "proxy_http_version 1.1;" in config
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", config)
    assert re.search(r"proxy_set_header\s+Connection\s+\$connection_upgrade;", config)
    assert "proxy_set_header" not in everything + live  # a location's own headers would drop the server's
    assert int(re.search(r"proxy_read_timeout\s+(\d+)s;", live).group(1)) >= 3600  # type: ignore[union-attr]
    assert not re.search(r"proxy_set_header\s+X-Request-ID", config)  # the caller's id reaches Parley as sent


def test_the_proxy_keeps_metrics_and_readiness_inside(tmp_path: Path) -> None:
    config = _nginx()
    routes = {route.path for route in create_litestar(memory_container(tmp_path)).routes}

    for internal in ("/metrics", "/ready"):
        assert internal in routes
        assert "return 404;" in _location(config, internal)


# --- Prometheus and Grafana ----------------------------------------------------------------------------------------


def _prometheus() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    return document


def test_prometheus_scrapes_metrics_of_both_api_processes(tmp_path: Path) -> None:
    [job] = [job for job in _prometheus()["scrape_configs"] if job["job_name"] == "parley-api"]
    [static] = job["static_configs"]
    routes = {route.path for route in create_litestar(memory_container(tmp_path)).routes}

    assert job.get("metrics_path", "/metrics") in routes
    assert sorted(target.split(":")[0] for target in static["targets"]) == API_SERVICES
    for target in static["targets"]:
        host, port = target.split(":")
        assert int(port) == _command_args(host).port
    assert 'job="parley-api"' in (ROOT / "docs" / "operations" / "alerts.yaml").read_text()  # ParleyDown's job


def test_prometheus_loads_the_alert_rules_compose_mounts() -> None:
    mounts = _mounts("prometheus")

    assert mounts["/etc/prometheus/prometheus.yml"] == DOCKER / "prometheus.yml"
    for rule_file in _prometheus()["rule_files"]:
        assert mounts[rule_file] == ROOT / "docs" / "operations" / "alerts.yaml"


def test_promtool_accepts_the_prometheus_config_as_compose_mounts_it(tmp_path: Path) -> None:
    """`promtool check config` on the file, its container paths replaced by the files compose mounts there."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: `make tools` (apt-get install prometheus) installs it")
    config = (DOCKER / "prometheus.yml").read_text()
    for target, source in _mounts("prometheus").items():
        config = config.replace(target, str(source))
    (tmp_path / "prometheus.yml").write_text(config)

    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stdout + result.stderr


def _provisioning(kind: str) -> dict[str, Any]:
    [path] = sorted((DOCKER / "grafana" / "provisioning" / kind).glob("*.yaml"))
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_grafana_is_provisioned_with_prometheus_and_the_parley_dashboard() -> None:
    mounts = _mounts("grafana")
    [datasource] = _provisioning("datasources")["datasources"]
    [provider] = _provisioning("dashboards")["providers"]
    dashboard = json.loads((ROOT / "docs" / "operations" / "grafana-dashboard.json").read_text())

    assert mounts["/etc/grafana/provisioning"] == DOCKER / "grafana" / "provisioning"
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == f"http://prometheus:{_compose()['services']['prometheus']['ports'][0].split(':')[-1]}"
    dashboards = [target for target, source in mounts.items() if source.suffix == ".json"]
    assert [PurePosixPath(target).parent for target in dashboards] == [PurePosixPath(provider["options"]["path"])]
    assert mounts[dashboards[0]] == ROOT / "docs" / "operations" / "grafana-dashboard.json"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}, panel["title"]
