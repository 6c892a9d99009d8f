"""A provider call as an OpenTelemetry span, in the GenAI semantic conventions: `chat {model}` (kind CLIENT)
with gen_ai.system, gen_ai.operation.name, gen_ai.request.model and max_tokens, and, when the reply ends,
gen_ai.usage.input_tokens and output_tokens, gen_ai.response.finish_reasons and the time to the first token
(`parley.gen_ai.time_to_first_token_ms`, plus a `gen_ai.first_token` event). A failure sets the span's status
to ERROR with the error's type.

It wraps any LlmProvider, so the adapters themselves know nothing of tracing; the composition root wraps them
only when tracing is on, and the chat path pays nothing otherwise."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from domain.conversation.ports import CompletionRequest, LlmProvider, StreamEvent, TextDelta, UsageReport

_tracer = trace.get_tracer("parley.llm")


class TracedProvider:
    def __init__(self, provider: LlmProvider, system: str) -> None:
        self._provider = provider
        self._system = system
        """gen_ai.system: openai, anthropic, or the provider's own name."""
        self.name = provider.name
        self.capabilities = provider.capabilities

    def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        return self._traced(request)

    async def _traced(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        attributes: dict[str, AttributeValue] = {
            "gen_ai.system": self._system,
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": request.model,
            "gen_ai.request.max_tokens": request.max_tokens,
            "parley.provider": self.name,
        }
        if request.temperature is not None:
            attributes["gen_ai.request.temperature"] = request.temperature
        # Not made the current span: an async generator's body runs in its consumer's context, so a current
        # span set here would leak into what the consumer does between two chunks.
        span = _tracer.start_span(f"chat {request.model}", kind=SpanKind.CLIENT, attributes=attributes)
        started = time.monotonic()
        first = True
        try:
            async for event in self._provider.stream(request):
                if first and isinstance(event, TextDelta):
                    first = False
                    span.set_attribute(
                        "parley.gen_ai.time_to_first_token_ms", round((time.monotonic() - started) * 1000, 3)
                    )
                    span.add_event("gen_ai.first_token")
                elif isinstance(event, UsageReport):
                    span.set_attribute("gen_ai.usage.input_tokens", event.usage.prompt_tokens)
                    span.set_attribute("gen_ai.usage.output_tokens", event.usage.completion_tokens)
                    span.set_attribute("gen_ai.response.finish_reasons", (event.finish_reason,))
                yield event
        except Exception as error:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.record_exception(error)
            raise
        finally:
            span.end()

    async def aclose(self) -> None:
        close = getattr(self._provider, "aclose", None)
        if close is not None:
            await close()
