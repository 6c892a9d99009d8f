"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile: m=64 MiB, t=3, p=4), in worker
threads: a hash holds a core for a few hundred milliseconds, which on the event loop would stall every request of
the process. At most MAX_CONCURRENT hashes run at once (each holds 64 MiB); more wait their turn in their thread."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

MAX_CONCURRENT = 2
"""Hashes at once per process: 128 MiB of hashing memory at most, and a core left for everything else."""


class Argon2PasswordHasher:
    def __init__(self, time_cost: int | None = None, memory_cost: int | None = None) -> None:
        """The profile's costs, or the ones given (tests and benchmarks use cheaper ones)."""
        profile = RFC_9106_LOW_MEMORY
        parameters = dataclasses.replace(
            profile, time_cost=time_cost or profile.time_cost, memory_cost=memory_cost or profile.memory_cost
        )
        self._hasher = _Argon2.from_parameters(parameters)
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    def _hash(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(password)

    def _verify(self, password_hash: str, password: str) -> bool:
        with self._slots:
            try:
                return self._hasher.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
