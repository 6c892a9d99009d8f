"""Parley against its own OpenAPI document, with requests generated from it by schemathesis (valid ones and
deliberately broken ones) sent to a real `parley serve` on the embedded default, as a signed-in admin with an
API key: no answer is a server error, every status and content type is one the document lists, every JSON
body matches its schema, and requests that break the schema are refused.

Signing out is left out (it would end the key's session half-way through the run). The examples are drawn
deterministically, so a run is repeatable; a failure names the route and prints the request that reproduces
it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.accounts import PASSWORD, bearer
from tests.support.server import PARLEY, ServerProcess, base_env, running_server

ADMIN = "contract@example.com"
EXAMPLES = 20
"""Generated requests per route and mode (valid, broken): about 1,100 requests, some 15 seconds."""
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """The server (rate limits off: the run sends hundreds of requests a second) and an admin's API key."""
    workdir = tmp_path_factory.mktemp("contract")
    for server in running_server(workdir, PARLEY_RATE_LIMIT_ENABLED="false"):
        created = subprocess.run(
            [PARLEY, "users", "create-admin", ADMIN],
            input=f"{PASSWORD}\n",
            capture_output=True,
            text=True,
            cwd=workdir,
            env=base_env(workdir, PARLEY_RATE_LIMIT_ENABLED="false"),
            timeout=60,
            check=True,
        )
        assert created.returncode == 0
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            token = client.post("/api/auth/signin", json={"email": ADMIN, "password": PASSWORD}).json()
            key = client.post("/api/keys", json={"name": "contract"}, headers=bearer(token["access_token"]))
            yield server, bearer(key.json()["key"])


def test_every_route_keeps_to_the_openapi_document(api: tuple[ServerProcess, dict[str, str]]) -> None:
    server, credentials = api
    document = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json").exclude(path="/api/auth/signout")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in document.get_all_operations()]
    assert len(operations) >= 25  # the document lists every /api and /v1 route

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def keeps_to_the_document(case: Any) -> None:
                case.call_and_validate(headers=credentials, checks=CHECKS)

            try:
                keeps_to_the_document()
            except Unsatisfiable:  # nothing in this route's request can be broken (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE
            except Exception as failure:
                failures[f"{operation.label} ({mode.value})"] = str(failure)[:2000]

    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
