"""Password hashing with argon2id (argon2-cffi's RFC 9106 low-memory profile: m=64 MiB, t=3, p=4)."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2PasswordHasher:
    def __init__(self, time_cost: int | None = None, memory_cost: int | None = None) -> None:
        kwargs = {k: v for k, v in {"time_cost": time_cost, "memory_cost": memory_cost}.items() if v is not None}
        self._hasher = _Argon2(**kwargs)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)
