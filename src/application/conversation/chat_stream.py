"""Relaying a provider's stream: pass each piece of text on as it comes and collect what the accounting needs
(the text, the provider's last usage report and why the reply ended). A provider failing mid-reply ends the
relay quietly: what was produced is kept, and the outcome says what went wrong."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from application.conversation.dto import ReplyDelta
from application.conversation.router import OpenedStream
from domain.conversation.errors import ProviderError
from domain.conversation.model import Usage
from domain.conversation.ports import StreamEvent, TextDelta, ToolCallDelta, UsageReport
from domain.conversation.tokens import estimate_tokens


@dataclass
class StreamOutcome:
    parts: list[str] = field(default_factory=list)
    report: UsageReport | None = None
    """The provider's last usage report (None when it sent none: the demo model, a cut stream)."""
    failure: ProviderError | None = None
    ended: bool = False
    """The provider's stream ran to its end or failed; False while it runs, or when the relay was abandoned."""
    stopped: bool = False
    """Parley ended the reply early (the account was disabled mid-reply): what was produced is charged."""

    @property
    def content(self) -> str:
        return "".join(self.parts)

    def usage(self, prompt_estimate: int) -> Usage:
        """The provider's count, else an estimate of what was sent and produced."""
        if self.report is not None:
            return self.report.usage
        content = self.content
        return Usage(prompt_estimate, estimate_tokens(content) if content else 0)

    def finish_reason(self, prompt_estimate: int, max_tokens: int) -> str:
        """The provider's reason; without one, "length" when the estimate reached max_tokens, else "stop"."""
        if self.report is not None:
            return self.report.finish_reason
        return self.reason_for(self.usage(prompt_estimate), max_tokens)

    def reason_for(self, usage: Usage, max_tokens: int) -> str:
        """Why the reply ended, given its `usage` (as `usage()` gave it): "error" when the provider failed,
        "cancelled" when the relay was abandoned (the client went away) or Parley stopped it (the account was
        disabled), else as `finish_reason`."""
        if self.failure is not None:
            return "error"
        if not self.ended or self.stopped:
            return "cancelled"
        if self.report is not None:
            return self.report.finish_reason
        return "length" if usage.completion_tokens >= max_tokens else "stop"


async def relay(opened: OpenedStream, outcome: StreamOutcome) -> AsyncGenerator[ReplyDelta | ToolCallDelta, None]:
    event: StreamEvent | None = opened.first
    try:
        while event is not None:
            if isinstance(event, TextDelta):
                if event.text:
                    outcome.parts.append(event.text)
                    yield ReplyDelta(event.text)
            elif isinstance(event, ToolCallDelta):
                yield event
            else:
                outcome.report = event
            try:
                event = await anext(opened.events)
            except StopAsyncIteration:
                event = None
    except ProviderError as exc:
        outcome.failure = exc
    outcome.ended = True
