"""A loop with a start delay waits before its first step (the analytics export runs one interval after
start-up, not at once) and stops during that wait without running it."""

from __future__ import annotations

import asyncio

from entrypoints.worker.loops import RepeatingTask


async def test_a_start_delay_holds_back_the_first_step_and_stop_ends_the_wait() -> None:
    steps: list[int] = []

    async def step() -> int:
        steps.append(1)
        return 0

    task = RepeatingTask("analytics-export", step, 3600, start_delay_seconds=3600)
    running = asyncio.create_task(task.run())
    await asyncio.sleep(0)
    task.stop()
    await asyncio.wait_for(running, timeout=5)

    assert steps == []


async def test_without_a_delay_the_first_step_runs_at_once() -> None:
    ran = asyncio.Event()

    async def step() -> int:
        ran.set()
        return 0

    task = RepeatingTask("outbox-relay", step, 3600)
    running = asyncio.create_task(task.run())
    await asyncio.wait_for(ran.wait(), timeout=5)
    task.stop()
    await asyncio.wait_for(running, timeout=5)
