from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import Mailbox, ServerProcess, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`parley serve` with no configuration at all: the embedded default, in its own working directory."""
    # Only the proxy setting is given, so each test can speak from its own client address (per-IP limits).
    yield from running_server(tmp_path_factory.mktemp("embedded"), PARLEY_TRUSTED_PROXIES="127.0.0.1")


@pytest.fixture(scope="module")
def mailbox(server: ServerProcess) -> Mailbox:
    return Mailbox(server.workdir / "var" / "mail")


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    """A client with an address of its own (X-Forwarded-For through the trusted local proxy)."""
    address = str(ipaddress.IPv6Address(random.getrandbits(128)))
    with httpx.Client(base_url=server.url, timeout=10.0, headers={"X-Forwarded-For": address}) as http:
        yield http
