"""Fitting a conversation into a model's context window."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.conversation.model import CONTENT_MAX_LENGTH, Role
from domain.conversation.ports import Turn
from domain.shared.errors import InvalidInput


def check_content(content: str, field: str = "content") -> None:
    if not content.strip():
        raise InvalidInput(field, "Write a message of 1 to 32,000 characters.")
    if len(content) > CONTENT_MAX_LENGTH:
        raise InvalidInput(field, f"A message is at most {CONTENT_MAX_LENGTH:,} characters.")


def fit_context(
    system: str | None,
    history: Sequence[Turn],
    context_window: int,
    max_tokens: int,
    count: Callable[[str], int],
) -> list[Turn]:
    """System prompt (always kept) + the newest turns that fit so prompt + max_tokens <= the window.
    The newest turn (the user's message) is always sent; older turns are dropped oldest first."""
    budget = context_window - max_tokens
    turns = [Turn(Role.SYSTEM, system)] if system else []
    used = sum(count(turn.content) for turn in turns)
    kept: list[Turn] = []
    for index, turn in enumerate(reversed(history)):
        cost = count(turn.content)
        if index > 0 and used + cost > budget:
            break
        kept.append(turn)
        used += cost
    return turns + kept[::-1]
