"""Checking a password takes long on purpose (argon2id, 64 MiB, a few hundred milliseconds): it runs off the
event loop, so a sign-in never stalls the other requests of its process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from adapters.security.argon2 import Argon2PasswordHasher
from tests.support.app import loop_client, memory_container

PASSWORD = "correct horse battery staple"


class SignallingHasher(Argon2PasswordHasher):
    """The real hasher, telling the test when a check has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.checking = asyncio.Event()

    async def verify(self, password_hash: str, password: str) -> bool:
        self.checking.set()
        return await super().verify(password_hash, password)


async def test_a_sign_in_does_not_stall_the_requests_beside_it(tmp_path: Path) -> None:
    hasher = SignallingHasher()
    container = memory_container(tmp_path, hasher=hasher, settings={"rate_limit_enabled": False})
    async with loop_client(container) as client:  # the app on this very loop: a blocked loop would show
        account = {"email": "ada@example.com", "password": PASSWORD}
        assert (await client.post("/api/auth/signup", json=account)).status_code == 202
        finished: dict[str, float] = {}

        async def timed(name: str, request: Awaitable[Any]) -> None:
            await request
            finished[name] = time.monotonic()

        signing_in = asyncio.create_task(timed("signin", client.post("/api/auth/signin", json=account)))
        await hasher.checking.wait()  # the password check has begun
        await asyncio.gather(*(timed(f"health{n}", client.get("/health")) for n in range(3)))
        await signing_in

    assert all(finished[f"health{n}"] < finished["signin"] for n in range(3)), finished
