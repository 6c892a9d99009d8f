"""Recording what the quota ledger has already counted (a reply, an embeddings request): a record lost to a
database that blinked would be billing data gone, so it is tried again after a short wait. The record's ids are
fixed before the first try, so a retry after a try whose answer was lost on its way back (it had committed)
meets its own rows (Conflict) and stops there: a record is stored once at most."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

from domain.shared.errors import Conflict

RECORD_RETRY_DELAYS = (0.2, 1.0, 3.0)
"""Seconds to wait before each further try at recording (then the error is raised and logged)."""


async def record_with_retries(
    record: Callable[[], Awaitable[None]],
    delays: Sequence[float],
    *,
    log: logging.Logger,
    event: str,
    usage_id: UUID,
) -> None:
    """Run `record` until it is stored: a Conflict on the first try is the caller's (raised), on a later try
    the proof that an earlier one was stored; any other error is tried again after each delay, then raised."""
    for retry, delay in enumerate((None, *delays)):
        if delay is not None:
            await asyncio.sleep(delay)
        try:
            await record()
            return
        except Conflict:
            if retry == 0:
                raise
            return
        except Exception as exc:
            if retry == len(delays):
                raise
            log.warning(event, extra={"usage_id": str(usage_id), "error": type(exc).__name__})
