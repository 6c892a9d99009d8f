"""The process's background tasks (application.shared.background.BackgroundTasks) on asyncio: a task set that
graceful shutdown drains, so a reply cut short is still accounted for before the process exits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("parley.background")


class AsyncioBackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self._start(coroutine).add_done_callback(_log_failure)

    async def shield(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return await asyncio.shield(self._start(coroutine))

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _start(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _log_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background.task_failed", exc_info=task.exception())
