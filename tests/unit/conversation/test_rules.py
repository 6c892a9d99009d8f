"""Pure conversation rules: titles, fitting the context window, the catalogue and plan gating."""

from __future__ import annotations

import pytest

from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.context import check_content, fit_context
from domain.conversation.errors import ModelNotAllowed, UnknownModel
from domain.conversation.model import Role, title_from
from domain.conversation.ports import Turn
from domain.conversation.tokens import estimate_tokens
from domain.shared.errors import InvalidInput


def test_a_title_is_the_first_message_cut_at_a_word_boundary() -> None:
    assert title_from("Short question?") == "Short question?"
    long = "Could you explain, in a few words, why the sky looks blue on a clear summer afternoon?"
    title = title_from(long)
    assert title == "Could you explain, in a few words, why the sky looks blue on"
    assert len(title) <= 60 and long.startswith(title)
    assert title_from("x" * 100) == "x" * 60  # one long word: cut hard
    assert title_from("  spaced\n\nout   words ") == "spaced out words"


def test_content_must_be_1_to_32000_characters() -> None:
    check_content("a")
    check_content("a" * 32_000)
    for bad in ("", "   \n", "a" * 32_001):
        with pytest.raises(InvalidInput):
            check_content(bad)


def test_the_oldest_turns_go_first_and_the_system_prompt_stays() -> None:
    history = [Turn(Role.USER if i % 2 == 0 else Role.ASSISTANT, f"turn {i} " + "x" * 396) for i in range(10)]
    fitted = fit_context("be brief", history, context_window=1_000, max_tokens=500, count=estimate_tokens)
    assert fitted[0] == Turn(Role.SYSTEM, "be brief")
    kept = fitted[1:]
    assert kept == history[-len(kept) :] and 0 < len(kept) < len(history)
    assert sum(estimate_tokens(t.content) for t in fitted) + 500 <= 1_000


def test_the_newest_message_is_always_sent() -> None:
    huge = [Turn(Role.USER, "y" * 10_000)]
    assert fit_context(None, huge, context_window=100, max_tokens=50, count=estimate_tokens) == huge


def test_plans_gate_models() -> None:
    catalogue = ModelCatalogue(
        [
            ModelSpec("basic", (RouteStep("demo", "basic"),), 8192, frozenset({"free", "plus", "pro"})),
            ModelSpec("large", (RouteStep("demo", "large"),), 8192, frozenset({"plus", "pro"})),
        ]
    )
    assert catalogue.for_plan(None, "free").id == "basic"  # the default is the first model
    assert catalogue.for_plan("large", "plus").id == "large"
    with pytest.raises(ModelNotAllowed):
        catalogue.for_plan("large", "free")
    with pytest.raises(UnknownModel) as unknown:
        catalogue.for_plan("nope", "pro")
    assert unknown.value.field == "model"
