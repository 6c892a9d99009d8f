"""A bare ASGI app served by uvicorn on 127.0.0.1 (a free port) in a background thread: what the fake
upstreams (OpenAI, Anthropic, Stripe) run on."""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

START_TIMEOUT_SECONDS = 10.0


class _Server(uvicorn.Server):
    """uvicorn, telling the starting thread when it accepts connections."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class LocalServer:
    def __init__(self, app: Any, name: str, log_level: str = "warning") -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        host, port = sock.getsockname()
        self.url = f"http://{host}:{port}"
        config = uvicorn.Config(
            app,
            interface="asgi3",
            lifespan="off",
            proxy_headers=False,
            log_config=None,
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = _Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        if not self._server.ready.wait(START_TIMEOUT_SECONDS):
            raise RuntimeError(f"{name} did not start within {START_TIMEOUT_SECONDS} s")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(START_TIMEOUT_SECONDS)
