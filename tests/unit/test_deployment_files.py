"""The container files, read as Docker and Compose would read them (no Docker engine needed): the image
serves its embedded default with a migrated database; in compose the API and the worker start only after the
migration finished, and only the API carries the image's HTTP health check."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from entrypoints.cli import build_parser

DOCKER = Path(__file__).resolve().parents[2] / "docker"


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


@pytest.mark.parametrize("service", ["api", "worker"])
def test_api_and_worker_wait_for_the_migration_and_the_services(service: str) -> None:
    depends_on = _compose()["services"][service]["depends_on"]

    assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
    assert depends_on["postgres"] == {"condition": "service_healthy"}
    assert depends_on["rabbitmq"] == {"condition": "service_healthy"}
    assert "redis" in depends_on


def test_the_migration_runs_once_after_the_database_is_up() -> None:
    migrate = _compose()["services"]["migrate"]

    assert migrate["command"] == ["parley", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "migrate" not in migrate["depends_on"]


@pytest.mark.parametrize("service", ["worker", "migrate"])
def test_containers_without_an_http_server_do_not_inherit_the_health_check(service: str) -> None:
    assert _compose()["services"][service]["healthcheck"] == {"disable": True}


def test_the_api_keeps_the_image_health_check() -> None:
    assert "healthcheck" not in _compose()["services"]["api"]


@pytest.mark.parametrize("service", ["api", "worker", "migrate"])
def test_every_parley_command_in_compose_is_one_the_cli_knows(service: str) -> None:
    definition = _compose()["services"][service]
    command = definition["command"]
    command = shlex.split(command) if isinstance(command, str) else command

    assert command[0] == "parley"
    build_parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command or option
    assert definition["environment"]["PARLEY_DATABASE_URL"].startswith("postgresql+asyncpg://")
