from __future__ import annotations

import hashlib
import hmac
import os


class Pbkdf2PasswordHasher:
    """A fast standard-library hasher for unit tests (one PBKDF2 round: never use in production)."""

    def __init__(self, iterations: int = 1) -> None:
        self._iterations = iterations

    async def hash(self, password: str) -> str:
        salt = os.urandom(16)
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, self._iterations)
        return f"pbkdf2${self._iterations}${salt.hex()}${digest.hex()}"

    async def verify(self, password_hash: str, password: str) -> bool:
        try:
            _, iterations, salt, digest = password_hash.split("$")
        except ValueError:
            return False
        expected = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
        return hmac.compare_digest(expected.hex(), digest)

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"pbkdf2${self._iterations}$")
