"""The bodies of Anthropic's Messages API as /v1/messages reads and writes them (the subset Parley honours, and
the parameters it must refuse rather than ignore). Unknown top-level fields are refused, as Anthropic does."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec


class ContentBlock(msgspec.Struct):
    """A block of a message's (or the system prompt's) content: `text`, `image` (for a model that accepts
    images), `tool_use` (an assistant's) and `tool_result` (a user's) are read; any other type (document,
    thinking...) is refused naming where it is."""

    type: str
    text: str | None = None
    source: dict[str, Any] | None = None
    """An image's: {"type": "base64", "media_type", "data"} or {"type": "url", "url"}."""
    id: str | None = None
    name: str | None = None
    input: Any = None
    tool_use_id: str | None = None
    content: str | list[ContentBlock] | None = None
    """A tool result's."""
    is_error: bool | None = None
    cache_control: dict[str, Any] | None = None


class ToolDefinition(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    input_schema: dict[str, Any] | None = None
    description: str | None = None
    type: str | None = None
    """None or "custom" for a client tool; Anthropic's server tools (web search, ...) are refused."""
    cache_control: dict[str, Any] | None = None


class ToolChoice(msgspec.Struct):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool | None = None


class InputMessage(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class Metadata(msgspec.Struct):
    user_id: str | None = None


class _Prompt(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    model: str
    messages: Annotated[list[InputMessage], msgspec.Meta(min_length=1, max_length=1000)]
    system: str | list[ContentBlock] | None = None
    cache_control: dict[str, Any] | None = None
    """A prompt-caching hint: accepted, and nothing to honour (Parley keeps no provider-side prompt cache)."""
    tools: Annotated[list[ToolDefinition], msgspec.Meta(max_length=128)] | None = None
    tool_choice: ToolChoice | None = None
    # Honoured by no model of the catalogue yet: refused (400 naming it) unless left out or at their default.
    thinking: dict[str, Any] | None = None
    output_config: dict[str, Any] | None = None
    speed: str | None = None

    def unhonoured(self) -> str | None:
        """The first parameter given with a value other than its default, that Parley cannot pass on."""
        asked = {
            "tools": any(tool.type not in (None, "custom") for tool in self.tools or ()),
            "thinking": self.thinking is not None and self.thinking.get("type") != "disabled",
            "output_config": bool(self.output_config),
            "speed": self.speed not in (None, "standard"),
        }
        return next((name for name, given in asked.items() if given), None)


class CountTokensBody(_Prompt, kw_only=True):
    """POST /v1/messages/count_tokens."""


class MessagesBody(_Prompt, kw_only=True):
    """POST /v1/messages: `max_tokens` is required, as Anthropic requires it."""

    max_tokens: Annotated[int, msgspec.Meta(ge=1)]
    stream: bool = False
    temperature: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    metadata: Metadata | None = None
    service_tier: Literal["auto", "standard_only"] | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    inference_geo: str | None = None

    def unhonoured(self) -> str | None:
        if self.inference_geo is not None:
            return "inference_geo"
        return super().unhonoured()


class TextBlock(msgspec.Struct, tag_field="type", tag="text"):
    text: str


class ToolUseBlock(msgspec.Struct, tag_field="type", tag="tool_use"):
    id: str
    name: str
    input: Any


class Usage(msgspec.Struct):
    input_tokens: int
    output_tokens: int


StopReason = Literal["end_turn", "max_tokens", "tool_use", "refusal"]


class Message(msgspec.Struct):
    """Anthropic's Message object: the answer of a plain POST /v1/messages."""

    id: str
    model: str
    content: list[TextBlock | ToolUseBlock]
    stop_reason: StopReason | None
    usage: Usage
    stop_sequence: None = None
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"


class TokenCount(msgspec.Struct):
    input_tokens: int


class AnthropicErrorDetails(msgspec.Struct):
    error_code: str
    """Parley's own slug (`email-not-verified`, `model-not-allowed`, `quota-exceeded`...): the SDK's
    `error.error_code`."""


class AnthropicError(msgspec.Struct, omit_defaults=True):
    type: str
    """invalid_request_error, authentication_error, billing_error, permission_error, not_found_error,
    request_too_large, rate_limit_error, api_error or overloaded_error."""
    message: str
    details: AnthropicErrorDetails | None = None


class AnthropicErrorBody(msgspec.Struct, kw_only=True):
    """Anthropic's error body: `{"type": "error", "error": {"type", "message"}}`."""

    type: Literal["error"] = "error"
    error: AnthropicError
