"""A user's data export (GET /api/auth/me/export): each context answers for its own data through this port,
and the composition root hands identity every part, so identity imports no other context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, Protocol, TypeVar
from uuid import UUID

Cursor = tuple[datetime, UUID]
T = TypeVar("T")


class AccountDataExport(Protocol):
    """One context's part of the export: top-level keys of the document, with JSON-ready values (str, int,
    float, bool, None, UUID, datetime, and lists and mappings of them). Never a secret (no hash, token or
    key)."""

    async def export(self, user_id: UUID) -> Mapping[str, Any]: ...


async def every_page(
    read: Callable[[int, Cursor | None], Awaitable[Sequence[T]]], cursor_of: Callable[[T], Cursor], size: int = 200
) -> list[T]:
    """Every item of a keyset-paged list: `read(limit, before)` is called until a page comes back short."""
    items: list[T] = []
    before: Cursor | None = None
    while True:
        page = await read(size, before)
        items.extend(page)
        if len(page) < size:
            return items
        before = cursor_of(page[-1])


def picked(item: object, names: str, **extra: Any) -> dict[str, Any]:
    """The attributes of `item` named in `names` (space-separated), an enum member as its value, then `extra`:
    how a part lists exactly the fields it exports (a field not named is never exported)."""
    values = {name: getattr(item, name) for name in names.split()} | extra
    return {name: value.value if isinstance(value, Enum) else value for name, value in values.items()}
