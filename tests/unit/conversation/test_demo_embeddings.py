"""The demo embedding model: deterministic, unit length, and similar texts closer than unrelated ones."""

from __future__ import annotations

import math

import pytest

from adapters.llm.demo_embeddings import DEMO_EMBEDDING_DIMENSIONS, demo_embedding


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))  # both are unit vectors


def test_vectors_are_64_long_unit_length_and_always_the_same() -> None:
    vector = demo_embedding("The cat sat on the mat.")
    assert len(vector) == DEMO_EMBEDDING_DIMENSIONS == 64
    assert math.isclose(math.fsum(v * v for v in vector), 1.0)
    assert demo_embedding("The cat sat on the mat.") == vector


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    query = demo_embedding("How do I reset my password?")
    similar = demo_embedding("how can I reset my password")
    unrelated = demo_embedding("Quarterly revenue grew by nine percent in Europe.")
    assert cosine(query, similar) > 0.5 > 0.1 > cosine(query, unrelated)
    ranked = sorted(
        ["The weather is sunny today.", "Resetting a forgotten password", "Invoices are sent monthly."],
        key=lambda text: -cosine(query, demo_embedding(text)),
    )
    assert ranked[0] == "Resetting a forgotten password"


def test_case_and_spacing_do_not_matter() -> None:
    assert demo_embedding("Hello   World") == demo_embedding("hello world")


def test_shorter_vectors_are_unit_length_and_still_rank_by_overlap() -> None:
    short = demo_embedding("shorten me", 16)
    assert len(short) == 16 and math.isclose(math.fsum(v * v for v in short), 1.0)
    query = demo_embedding("reset my password", 16)
    assert cosine(query, demo_embedding("resetting the password", 16)) > cosine(
        query, demo_embedding("monthly invoices", 16)
    )
    with pytest.raises(ValueError):
        demo_embedding("too long", 65)


def test_a_single_character_still_has_a_unit_vector() -> None:
    assert math.isclose(math.fsum(v * v for v in demo_embedding("a")), 1.0)
