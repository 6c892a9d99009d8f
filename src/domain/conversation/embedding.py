"""Embeddings in the conversation context's words: the port an embedding provider implements, and the rules
an embedding request must keep (how many inputs, how long each)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.conversation.tokens import estimate_tokens
from domain.shared.errors import InvalidInput

MAX_INPUTS = 2048
"""At most this many inputs in one request (OpenAI's own limit)."""


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    model: str
    """The provider's own name for the model."""
    inputs: Sequence[str]
    dimensions: int | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    vectors: Sequence[Sequence[float]]
    """One vector per input, in the inputs' order."""
    prompt_tokens: int | None
    """The provider's own count of the inputs' tokens (None when it reports none: the estimate is charged)."""


class EmbeddingProvider(Protocol):
    """Texts in, one vector each out. Raises ProviderError on failure (retryable or not, like a chat call)."""

    name: str

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult: ...


def check_inputs(inputs: Sequence[str], context_window: int) -> int:
    """The inputs' token estimate, once they are known to fit: 1 to MAX_INPUTS inputs, none empty, each within
    the model's context window (by the estimate). Raises InvalidInput naming `input`."""
    if not inputs:
        raise InvalidInput("input", "Give at least one input to embed.")
    if len(inputs) > MAX_INPUTS:
        raise InvalidInput("input", f"At most {MAX_INPUTS} inputs in one request; {len(inputs)} were given.")
    total = 0
    for index, text in enumerate(inputs):
        if not text:
            raise InvalidInput("input", f"Input {index} is empty; every input needs some text.")
        if "\x00" in text:
            raise InvalidInput("input", f"Input {index} holds a NUL character.")
        tokens = estimate_tokens(text)
        if tokens > context_window:
            raise InvalidInput(
                "input", f"Input {index} is about {tokens} tokens; this model reads at most {context_window}."
            )
        total += tokens
    return total
