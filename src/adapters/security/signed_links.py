"""Links that carry their own proof: an HMAC of what they point at, so an invoice page can be opened from an
email without signing in, and nobody can guess another one."""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID


class SignedLinks:
    def __init__(self, secret: str, public_url: str) -> None:
        self._key = hashlib.sha256(("invoice-links:" + secret).encode()).digest()
        self._public_url = public_url.rstrip("/")

    def _sign(self, payment_id: UUID) -> str:
        return hmac.new(self._key, str(payment_id).encode(), hashlib.sha256).hexdigest()[:32]

    def invoice_url(self, payment_id: UUID) -> str:
        return f"{self._public_url}/api/billing/invoices/{payment_id}?sig={self._sign(payment_id)}"

    def verify(self, payment_id: UUID, signature: str) -> bool:
        """Compared as bytes: `compare_digest` refuses str with non-ASCII characters, which anyone can put in a URL."""
        return hmac.compare_digest(self._sign(payment_id).encode(), signature.encode())
