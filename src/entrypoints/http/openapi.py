"""What Litestar cannot infer for the OpenAPI document: the routes whose 200 is a stream of server-sent events
(as well as, or instead of, JSON). Used as a route's `operation_class`."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, OpenAPIType, Operation, Schema

EVENT_STREAM = "text/event-stream"
_EVENTS = Schema(
    type=OpenAPIType.OBJECT,
    description="One server-sent event (the shape OpenAPI 3.2 gives an event stream's items): `data` is JSON; "
    "/api routes number (`id`, for Last-Event-ID) and name (`event`) their events, /v1/messages names them "
    "(Anthropic's event types), /v1/chat/completions sends `data` only.",
    properties={
        "id": Schema(type=OpenAPIType.STRING),
        "event": Schema(type=OpenAPIType.STRING),
        "data": Schema(type=OpenAPIType.STRING),
    },
    required=["data"],
)


@dataclass
class JsonOrEventStream(Operation):
    """200 is JSON, or server-sent events when the request asks for a stream."""

    def __post_init__(self) -> None:
        _document_events(self, keep_json=True)


@dataclass
class EventStreamOnly(Operation):
    """200 is server-sent events only."""

    def __post_init__(self) -> None:
        _document_events(self, keep_json=False)


def _document_events(operation: Operation, *, keep_json: bool) -> None:
    response = (operation.responses or {}).get("200")
    if isinstance(response, OpenAPIResponse):
        content = dict(response.content or {}) if keep_json else {}
        content[EVENT_STREAM] = OpenAPIMediaType(schema=_EVENTS)
        response.content = content
