"""A local Anthropic: a real HTTP server on 127.0.0.1 speaking the Messages API's wire format, so the real
`anthropic` SDK is exercised end to end. It is scripted and read back like the fake OpenAI (`Scenario`,
`requests`), whose module holds the server plumbing both share.

A streamed reply is the real event sequence: message_start (input tokens, and an output count of 1, as the
API sends), content_block_start, ping, content_block_delta per piece, content_block_stop, message_delta
(the cumulative output count) and message_stop; an in-stream failure is an `error` event
(`overloaded_error` unless scripted otherwise)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import msgspec
import pytest

from tests.support.fake_openai import (
    GARBLED_EVENT,
    FakeUpstream,
    Receive,
    RecordedRequest,
    Send,
    burst,
    client_left_during,
    retry_headers,
    send_event,
    send_json,
    start_event_stream,
)

ANTHROPIC_API_KEY = "sk-ant-fake-anthropic-key"

ANTHROPIC_ERRORS = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "An unexpected error has occurred internal to Anthropic's systems."),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error(status: int, message: str | None = None, kind: str | None = None) -> dict[str, Any]:
    default_kind, default_message = ANTHROPIC_ERRORS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", f"Error {status}.")
    )
    return {
        "type": "error",
        "error": {"type": kind or default_kind, "message": message or default_message},
        "request_id": f"req_{uuid4().hex[:24]}",
    }


class FakeAnthropic(FakeUpstream):
    """`POST /v1/messages` (streamed or not), behind the API key (in `x-api-key`, or as a Bearer token, which is
    how the SDK sends it since 2.x) and `anthropic-version`."""

    def __init__(self, api_key: str = ANTHROPIC_API_KEY) -> None:
        super().__init__()
        self.api_key = api_key

    async def handle(self, request: RecordedRequest, receive: Receive, send: Send) -> None:
        if self.api_key not in (request.headers.get("x-api-key"), request.headers.get("authorization", "")[7:]):
            await send_json(send, 401, anthropic_error(401))
        elif "anthropic-version" not in request.headers:
            await send_json(send, 400, anthropic_error(400, "anthropic-version: header is required"))
        elif (request.method, request.path) == ("POST", "/v1/messages"):
            await self._messages(request.body, receive, send)
        else:
            await send_json(send, 404, anthropic_error(404, f"Not found: {request.method} {request.path}"))

    async def _messages(self, body: dict[str, Any], receive: Receive, send: Send) -> None:
        scenario = self.next_scenario()
        if scenario.headers_delay and await client_left_during(receive, scenario.headers_delay):
            return
        if scenario.status != 200:
            await send_json(send, scenario.status, anthropic_error(scenario.status), retry_headers(scenario))
            return
        pieces = scenario.pieces(body["max_tokens"])
        stop_reason = "max_tokens" if len(pieces) < len(scenario.pieces(None)) else "end_turn"
        calls = [
            {
                "type": "tool_use",
                "id": f"toolu_{uuid4().hex[:24]}",
                "name": name,
                "input": msgspec.json.decode(arguments),
            }
            for name, arguments in scenario.tool_calls
        ]
        if calls:
            stop_reason = "tool_use"
        if scenario.filtered:
            stop_reason = "refusal"
        system = body.get("system") or ""
        input_tokens = scenario.reported_prompt_tokens([{"content": system}, *body["messages"]])
        output_tokens = len(pieces) if scenario.completion_tokens is None else scenario.completion_tokens
        message = {
            "id": f"msg_{uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        }
        if not body.get("stream"):
            content = [{"type": "text", "text": "".join(pieces)}] if pieces or not calls else []
            content += calls
            usage = {**message["usage"], "output_tokens": output_tokens}
            await send_json(send, 200, {**message, "content": content, "stop_reason": stop_reason, "usage": usage})
            return
        if scenario.burst:
            send = burst(send)
        await start_event_stream(send, [("request-id", f"req_{uuid4().hex[:24]}")])
        await send_event(send, _event("message_start", {"message": message}))
        text_block = bool(pieces) or not calls  # a reply of tool calls only has no text block
        if text_block:
            await send_event(
                send, _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            )
        await send_event(send, _event("ping", {}))
        if scenario.first_token_delay and await client_left_during(receive, scenario.first_token_delay):
            return
        for sent in range(len(pieces) + 1):
            if scenario.drop_after == sent:
                return  # uvicorn closes a connection whose response the app left unfinished
            if scenario.garble_after == sent:
                await send_event(send, b"event: content_block_delta\n" + GARBLED_EVENT, last=True)
                return
            if scenario.fail_after == sent:
                error = anthropic_error(529, kind=scenario.error_type or "overloaded_error")
                await send_event(send, _event("error", error), last=True)
                return
            if sent < len(pieces):
                if sent and scenario.piece_gap and await client_left_during(receive, scenario.piece_gap):
                    return
                delta = {"index": 0, "delta": {"type": "text_delta", "text": pieces[sent]}}
                await send_event(send, _event("content_block_delta", delta))
        if text_block:
            await send_event(send, _event("content_block_stop", {"index": 0}))
        for index, call in enumerate(calls, start=int(text_block)):  # the arguments as input_json_deltas
            await send_event(
                send, _event("content_block_start", {"index": index, "content_block": {**call, "input": {}}})
            )
            arguments = msgspec.json.encode(call["input"]).decode()
            half = len(arguments) // 2
            for part in (arguments[:half], arguments[half:]):
                delta = {"index": index, "delta": {"type": "input_json_delta", "partial_json": part}}
                await send_event(send, _event("content_block_delta", delta))
            await send_event(send, _event("content_block_stop", {"index": index}))
        delta = {
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        }
        await send_event(send, _event("message_delta", delta))
        await send_event(send, _event("message_stop", {}), last=True)


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    data = msgspec.json.encode({"type": kind, **payload})
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


@pytest.fixture(scope="session")
def fake_anthropic_server() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_anthropic(fake_anthropic_server: FakeAnthropic) -> FakeAnthropic:
    """The session's fake Anthropic, with an empty script and request log."""
    fake_anthropic_server.reset()
    return fake_anthropic_server
