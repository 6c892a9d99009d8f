"""Work that must finish even when the request that started it is gone (a reply's accounting after the client
hung up): the port, implemented in entrypoints, where the process's lifetime is known."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class BackgroundTasks(Protocol):
    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run it to the end without anyone waiting for it (errors are logged)."""
        ...

    async def shield(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run it to the end and wait for it: cancelling the waiter does not cancel the work."""
        ...

    async def drain(self) -> None:
        """Wait until every task spawned or shielded so far (and any they started) has ended."""
        ...
