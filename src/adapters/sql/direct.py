"""Connections kept open between calls, for the two reads and writes a chat request makes outside any unit of
work: the chat store's statements (chat_store.py) and the request's principal lookup (principals.py).

Checking a connection out of SQLAlchemy's pool and back in costs more CPU than the statement it runs (about
0.18 ms a call on a 2-core VM, against 0.16 ms for the statement itself, measured with the principal lookup),
so up to `keep` connections wait here between calls instead: three quarters of the pool, at most 16 (a chat
request makes three such calls, so at 32 concurrent requests a dozen or so are in one at any moment). They are
in autocommit (each statement commits on its own: these are single statements), count against the pool's
size, and are closed by `aclose`. A connection goes back only if nothing went wrong on it that could leave it
in doubt: one that SQLAlchemy or the chat store invalidated (a connection failure), or whose call was
cancelled mid-statement, is closed instead, and the pool's own reset repairs or drops it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MAX_KEPT = 16
"""At most this many kept, and never more than three quarters of the pool (units of work need the rest)."""


class KeptConnections:
    def __init__(self, engine: AsyncEngine, keep: int | None = None) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        size = getattr(engine.pool, "size", None)
        self._keep = keep if keep is not None else max(1, min(MAX_KEPT, size() * 3 // 4 if callable(size) else 1))
        self._kept: list[AsyncConnection] = []

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        connection = self._kept.pop() if self._kept else await self._engine.connect()
        reusable = False
        try:
            yield connection
            reusable = True
        except Exception:
            reusable = True  # the server's answer (a constraint, a bug): the connection is fine, unless invalidated
            raise
        finally:  # a BaseException (cancellation) leaves `reusable` False
            if reusable and not connection.invalidated and not connection.closed and len(self._kept) < self._keep:
                self._kept.append(connection)
            else:
                await connection.close()

    async def aclose(self) -> None:
        kept, self._kept = self._kept, []
        for connection in kept:
            await connection.close()
