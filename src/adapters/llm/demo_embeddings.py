"""The offline demo embedding model `parley-demo-embed`: a 64-dimensional vector hashed from a text's character
trigrams (the feature-hashing trick), L2-normalised. No download, no randomness: the same text always gives the
same vector, and texts that share many trigrams (similar spellings, shared words) point in similar directions,
so the cosine similarity of two vectors (their dot product) ranks texts by how much they overlap.

It is a demo, not a semantic model: "car" and "automobile" are no closer than any two unrelated words."""

from __future__ import annotations

import math
import zlib

DEMO_EMBEDDING_DIMENSIONS = 64
NGRAM = 3


def demo_embedding(text: str, dimensions: int = DEMO_EMBEDDING_DIMENSIONS) -> list[float]:
    """The text's vector, `dimensions` long (1 to 64; a shorter vector folds the same features into fewer
    positions). Each trigram of the lower-cased text, padded with a space either side and with its runs of
    whitespace made one space, adds +1 or -1 (by the top bit of its CRC-32) at the position its CRC-32 picks
    (modulo `dimensions`)."""
    if not 1 <= dimensions <= DEMO_EMBEDDING_DIMENSIONS:
        raise ValueError(f"dimensions must be 1 to {DEMO_EMBEDDING_DIMENSIONS}")
    padded = f" {' '.join(text.lower().split())} "
    vector = [0.0] * dimensions
    for start in range(max(1, len(padded) - NGRAM + 1)):
        digest = zlib.crc32(padded[start : start + NGRAM].encode())
        vector[digest % dimensions] += 1.0 if digest & 0x8000_0000 else -1.0
    norm = math.sqrt(math.fsum(value * value for value in vector))
    if norm == 0.0:  # the features cancelled out: a fixed unit vector
        return [1.0] + [0.0] * (dimensions - 1)
    return [value / norm for value in vector]
