"""High-entropy secrets (emailed tokens, API keys) and the hashes under which they are stored.

These secrets carry 256 bits of CSPRNG entropy, so a fast SHA-256 is the right storage hash (a slow
password hash buys nothing against guessing a 256-bit value, and lookups stay an index hit).
"""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "prl_"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def looks_like_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
