"""Counting a prompt's tokens: the very estimate the quota reserves for it, checked as a chat turn is."""

from __future__ import annotations

import pytest

from adapters.memory.llm import ScriptedProvider
from application.conversation.chat_prepare import ChatRequest, PrepareTurn
from application.conversation.count_tokens import CountTokens
from domain.conversation.errors import ModelNotAllowed, UnknownModel
from domain.conversation.model import Role
from domain.conversation.ports import Turn
from domain.shared.errors import InvalidInput
from domain.shared.ids import new_id
from tests.unit.conversation.chat_harness import Chat


async def test_the_count_is_what_the_quota_reserves_for_the_prompt() -> None:
    chat = Chat(ScriptedProvider("p"))
    request = ChatRequest(
        new_id(),
        "free",
        "And the sea?",
        system="Answer briefly.",
        history=[Turn(Role.USER, "Why is the sky blue?"), Turn(Role.ASSISTANT, "Rayleigh scattering.")],
    )

    counted = CountTokens(chat.catalogue)(request)

    prepared = await PrepareTurn(chat.catalogue, chat.allowance, chat.store, chat.cache, chat.clock)(request)
    assert counted == prepared.prompt_estimate == (4 + 5 + 5 + 3) + 4 * 4


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"model": "nope"}, UnknownModel),
        ({"plan": "plus", "model": "m"}, ModelNotAllowed),
        ({"content": "  "}, InvalidInput),
        ({"system": "x" * 32_001}, InvalidInput),
    ],
)
def test_what_a_chat_turn_refuses_is_refused(changes: dict[str, object], error: type[Exception]) -> None:
    chat = Chat(ScriptedProvider("p"))
    request = ChatRequest(**({"user_id": new_id(), "plan": "free", "content": "hi"} | changes))  # type: ignore[arg-type]

    with pytest.raises(error):
        CountTokens(chat.catalogue)(request)
