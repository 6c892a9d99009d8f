"""A provider-free token estimate, for when a provider reports no usage (the demo model, an OpenAI-compatible
server that sends no usage chunk, a stream cut short) and quota must still be charged."""

from __future__ import annotations

CHARACTERS_PER_TOKEN = 4
"""English text averages about four characters per token with the common BPE tokenizers: close enough to
meter a quota, and it never needs a tokenizer download."""


def estimate_tokens(text: str) -> int:
    """ceil(len / 4): 0 for empty text, at least 1 for any text."""
    return -(-len(text) // CHARACTERS_PER_TOKEN)
