"""The run lock inside one process (the embedded default): a set of held names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class InProcessRunLock:
    def __init__(self) -> None:
        self._held: set[str] = set()

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        if name in self._held:
            yield False
            return
        self._held.add(name)
        try:
            yield True
        finally:
            self._held.discard(name)
