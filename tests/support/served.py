"""The whole ASGI app (lifespan included) served by uvicorn on a free port of 127.0.0.1, inside the test's own
event loop: for what only a real server shows, such as a WebSocket refused with HTTP 403 before its upgrade."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

START_TIMEOUT_SECONDS = 10.0


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Yields the server's base URL (`http://127.0.0.1:PORT`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    host, port = sock.getsockname()
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="warning", timeout_graceful_shutdown=2)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await asyncio.wait_for(server.ready.wait(), START_TIMEOUT_SECONDS)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
