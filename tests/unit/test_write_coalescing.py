"""Streamed responses: pieces ready together leave in one write, in order, and nothing is lost or held back."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from entrypoints.http.coalescing import HIGH_WATER, CoalescingSend


class RecordingSend:
    """What the server was asked to write, message by message; optionally slow, like a slow client."""

    def __init__(self, delay: asyncio.Event | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.delay = delay

    async def __call__(self, message: dict[str, Any]) -> None:
        if self.delay is not None and message["type"] == "http.response.body":
            await self.delay.wait()
        self.messages.append(message)

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.messages if m["type"] == "http.response.body"]


def body(data: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


async def test_pieces_produced_together_leave_in_one_write_after_the_first() -> None:
    server = RecordingSend()
    send = CoalescingSend(server)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send(body(b"first"))
    assert server.bodies == [b"first"]  # the first piece is not held back
    for index in range(50):
        await send(body(b"%d;" % index))
    assert server.bodies == [b"first"]  # queued until the producer waits
    await asyncio.sleep(0)  # the producer waits for something (the upstream, the database)
    assert server.bodies == [b"first", b"".join(b"%d;" % i for i in range(50))]
    await send(body(b"last", more=False))
    assert server.bodies[-1] == b"last"
    assert server.messages[-1]["more_body"] is False


async def test_the_final_message_writes_what_is_queued_before_completing() -> None:
    server = RecordingSend()
    send = CoalescingSend(server)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send(body(b"a"))
    await send(body(b"b"))
    await send(body(b"c"))
    await send(body(b"", more=False))
    assert b"".join(server.bodies) == b"abc"
    assert server.messages[-1]["more_body"] is False


async def test_a_plain_response_passes_through_unchanged() -> None:
    server = RecordingSend()
    send = CoalescingSend(server)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send(body(b"{}", more=False))
    assert server.bodies == [b"{}"]


async def test_a_producer_far_ahead_of_a_slow_client_waits_for_it() -> None:
    client_reads = asyncio.Event()
    server = RecordingSend(delay=client_reads)
    send = CoalescingSend(server)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    client_reads.set()
    await send(body(b"first"))
    client_reads.clear()
    await send(body(b"x"))
    await asyncio.sleep(0)  # the write of b"x" starts and blocks on the slow client
    piece = b"y" * 1024
    producer = asyncio.ensure_future(_produce(send, piece, HIGH_WATER // len(piece) + 1))
    for _ in range(10):  # let every ready task run: the producer stays held
        await asyncio.sleep(0)
    assert not producer.done()  # held at the high-water mark, not buffering without bound
    client_reads.set()
    await producer
    await send(body(b"", more=False))
    assert b"".join(server.bodies) == b"first" + b"x" + piece * (HIGH_WATER // len(piece) + 1)


async def _produce(send: CoalescingSend, piece: bytes, count: int) -> None:
    for _ in range(count):
        await send(body(piece))


async def test_a_failed_write_reaches_the_producer() -> None:
    class Broken(RecordingSend):
        async def __call__(self, message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message["body"] != b"first":
                raise OSError("connection reset")
            await super().__call__(message)

    send = CoalescingSend(Broken())
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send(body(b"first"))
    await send(body(b"second"))
    await asyncio.sleep(0)
    with pytest.raises(OSError, match="connection reset"):
        await send(body(b"third"))
