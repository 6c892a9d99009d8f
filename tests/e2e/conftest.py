from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import Mailbox, ServerProcess, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`parley serve` with no configuration at all: the embedded default, in its own working directory."""
    yield from running_server(tmp_path_factory.mktemp("embedded"))


@pytest.fixture(scope="module")
def mailbox(server: ServerProcess) -> Mailbox:
    return Mailbox(server.workdir / "var" / "mail")


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10.0) as http:
        yield http
