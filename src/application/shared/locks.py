"""A lock that lets one runner at a time do a job, across every process that shares it: the others skip
the job rather than wait (the next run of the schedule does it)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol


class RunLock(Protocol):
    def hold(self, name: str) -> AbstractAsyncContextManager[bool]:
        """`async with lock.hold(name) as held:` held is True when this runner has the lock until the block
        ends, False when another runner holds it (then do nothing)."""
        ...
