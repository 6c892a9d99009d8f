"""A fresh identity kit (use cases on in-memory adapters) for each test."""

from __future__ import annotations

import pytest

from tests.support.identity import IdentityKit, build_identity_kit


@pytest.fixture
def kit() -> IdentityKit:
    return build_identity_kit()
