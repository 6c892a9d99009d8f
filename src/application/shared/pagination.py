"""Opaque keyset cursors: (timestamp, id) of the last item of a page, newest-first lists."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from domain.shared.errors import InvalidInput

MAX_PAGE = 100
T = TypeVar("T")


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"Use a limit from 1 to {MAX_PAGE}.")


def encode_cursor(moment: datetime, item_id: UUID) -> str:
    raw = f"{moment.isoformat()}|{item_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return moment, UUID(ident)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise InvalidInput("cursor", "This cursor is not one we gave out.") from None


def next_cursor(items: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, UUID]]) -> str | None:
    """The cursor after a page read with `limit + 1` items (None when that extra one is absent: no more)."""
    if len(items) <= limit:
        return None
    return encode_cursor(*key(items[limit - 1]))
