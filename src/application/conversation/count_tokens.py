"""Count a prompt's input tokens without sending it: the estimate the quota reserves for it (four characters a
token, plus a few for each message), for the model the caller's plan may use. Nothing is stored, nothing is
charged."""

from __future__ import annotations

from collections.abc import Iterable

from application.conversation.chat_prepare import PER_MESSAGE_OVERHEAD_TOKENS, SYSTEM_MAX_LENGTH, ChatRequest
from domain.conversation.catalogue import ModelCatalogue
from domain.conversation.context import check_content
from domain.conversation.model import Role
from domain.conversation.ports import Turn
from domain.conversation.tokens import estimate_tokens
from domain.shared.errors import InvalidInput


def prompt_tokens(turns: Iterable[Turn]) -> int:
    """The quota's estimate of a prompt: each turn's text estimate plus the per-message overhead."""
    return sum(estimate_tokens(turn.content) + PER_MESSAGE_OVERHEAD_TOKENS for turn in turns)


class CountTokens:
    def __init__(self, catalogue: ModelCatalogue) -> None:
        self._catalogue = catalogue

    def __call__(self, request: ChatRequest) -> int:
        """The input tokens of the whole prompt (system, history and the new message), checked as a chat turn
        is: an unknown model, one off the plan, or content a turn would refuse raise the same errors."""
        check_content(request.content)
        self._catalogue.for_plan(request.model, request.plan)
        if request.system is not None and len(request.system) > SYSTEM_MAX_LENGTH:
            raise InvalidInput("system", "A system prompt is at most 32,000 characters.")
        system = [Turn(Role.SYSTEM, request.system)] if request.system else []
        return prompt_tokens([*system, *(request.history or ()), Turn(Role.USER, request.content)])
