"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile: m=64 MiB, t=3, p=4)."""

from __future__ import annotations

import dataclasses

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY


class Argon2PasswordHasher:
    def __init__(self, time_cost: int | None = None, memory_cost: int | None = None) -> None:
        """The profile's costs, or the ones given (tests and benchmarks use cheaper ones)."""
        profile = RFC_9106_LOW_MEMORY
        parameters = dataclasses.replace(
            profile, time_cost=time_cost or profile.time_cost, memory_cost=memory_cost or profile.memory_cost
        )
        self._hasher = _Argon2.from_parameters(parameters)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
