"""The offline demo model: the whole product works without any provider key or network, and tests get a
provider whose every answer is known in advance.

The reply is a few friendly sentences built from the last user message: no randomness, the same request
always gives the same reply, and a longer prompt or a longer conversation gives a longer reply. It streams
word by word, like a real model streams tokens, and reports usage the way a provider would: the prompt
estimated from every input message, one completion token per piece streamed, and a reply cut
by max_tokens (one word a token) ends for "length"."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Sequence

from adapters.llm.demo_embeddings import DEMO_EMBEDDING_DIMENSIONS, demo_embedding
from domain.conversation.embedding import EmbeddingRequest, EmbeddingResult
from domain.conversation.model import Role, Usage
from domain.conversation.ports import CompletionRequest, StreamEvent, TextDelta, Turn, UsageReport
from domain.conversation.tokens import estimate_tokens

OPENERS = ("Hello!", "Hi there!", "Thanks for your message!", "Good question!")
QUOTED_WORDS = 8
LONG_PROMPT_WORDS = 12


class DemoProvider:
    """`delay_seconds` pauses before each word, to show streaming in a demo or to test a slow provider. It
    honours no option (no tools, formats or sampling beyond temperature): requests asking one are refused."""

    capabilities: frozenset[str] = frozenset()

    def __init__(self, name: str = "demo", delay_seconds: float = 0.0) -> None:
        self.name = name
        self._delay_seconds = delay_seconds

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        whole = demo_reply(request.model, request.messages).split(" ")
        words = whole[: max(request.max_tokens, 0)]
        pieces = [f"{word} " for word in words[:-1]] + words[-1:]
        for piece in pieces:
            if self._delay_seconds > 0:
                await asyncio.sleep(self._delay_seconds)
            yield TextDelta(piece)
        prompt_tokens = sum(estimate_tokens(turn.content) for turn in request.messages)
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=len(pieces))
        yield UsageReport(usage, finish_reason="length" if len(words) < len(whole) else "stop")

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """The demo embedding model's vectors (see demo_embeddings.py), counted with Parley's token estimate."""
        dimensions = request.dimensions or DEMO_EMBEDDING_DIMENSIONS
        vectors = [demo_embedding(text, dimensions) for text in request.inputs]
        return EmbeddingResult(vectors, prompt_tokens=sum(estimate_tokens(text) for text in request.inputs))


def demo_reply(model: str, messages: Sequence[Turn]) -> str:
    """The full reply the demo model gives to `messages` (before any max_tokens cut)."""
    prompt = next((turn.content for turn in reversed(messages) if turn.role is Role.USER), "")
    words = prompt.split()
    opener = OPENERS[zlib.crc32(f"{model}\n{' '.join(words)}".encode()) % len(OPENERS)]
    sentences = [opener]
    if words:
        quoted = " ".join(words[:QUOTED_WORDS]) + ("..." if len(words) > QUOTED_WORDS else "")
        sentences.append(f'You wrote: "{quoted}".')
    sentences.append("I am Parley's offline demo model, so this answer is made up on the spot.")
    if len(words) > LONG_PROMPT_WORDS:
        sentences.append(f"Your message has {len(words)} words; a real model would read every one of them.")
    earlier = sum(1 for turn in messages if turn.role is not Role.SYSTEM) - 1
    if earlier > 0:
        sentences.append(f"This conversation already holds {earlier} earlier messages.")
    if "large" in model:
        sentences.append("Being the large demo model, I get one sentence more than my smaller sibling.")
    sentences.append("Configure an OpenAI or Anthropic key to talk to a real model.")
    return " ".join(sentences)
