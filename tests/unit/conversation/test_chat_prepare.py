"""Preparing a chat turn: what is refused before anything is stored, whose conversations can be continued, and
what context the model is sent."""

from __future__ import annotations

import pytest

from adapters.memory.llm import ScriptedProvider
from application.conversation.chat_prepare import ChatRequest, PrepareTurn
from domain.conversation.errors import ModelNotAllowed
from domain.conversation.model import Role
from domain.conversation.ports import CompletionOptions, Image, Tool, ToolCall, Turn
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.ids import new_id
from tests.factories.conversation import ConversationFactory, MessageFactory, UsageRecordFactory
from tests.unit.conversation.chat_harness import Chat


def prepare(chat: Chat) -> PrepareTurn:
    return PrepareTurn(chat.catalogue, chat.allowance, chat.store, chat.cache, chat.clock)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"content": "   "}, "content"),
        ({"max_tokens": 4097}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"system": "x" * 32_001}, "system"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    chat = Chat(ScriptedProvider("p"))
    request = ChatRequest(**({"user_id": new_id(), "plan": "free", "content": "hi"} | changes))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as refused:
        await prepare(chat)(request)
    assert refused.value.field == field


async def test_a_model_outside_the_plan_is_refused() -> None:
    chat = Chat(ScriptedProvider("p"))
    with pytest.raises(ModelNotAllowed):
        await prepare(chat)(ChatRequest(new_id(), "plus", "hi", model="m"))


async def test_another_users_conversation_is_not_found() -> None:
    chat = Chat(ScriptedProvider("p"))
    conversation = ConversationFactory.build(user_id=new_id())
    await chat.store.record_prompt(conversation, MessageFactory.in_(conversation), new=True)

    with pytest.raises(NotFound):
        await prepare(chat)(ChatRequest(new_id(), "free", "hi", conversation_id=conversation.id))


async def test_a_continued_conversation_sends_its_history_then_the_new_message() -> None:
    chat = Chat(ScriptedProvider("p"))
    conversation = ConversationFactory.build(user_id=new_id())
    question = MessageFactory.in_(conversation, content="Why is the sky blue?")
    await chat.store.record_prompt(conversation, question, new=True)
    answer = MessageFactory.reply_in(conversation, content="Rayleigh scattering.")
    await chat.store.record_reply(answer, UsageRecordFactory.of(answer))

    turn = await prepare(chat)(
        ChatRequest(conversation.user_id, "free", "And at sunset?", conversation_id=conversation.id, system="Be brief.")
    )

    assert turn.turns == [
        Turn(Role.SYSTEM, "Be brief."),
        Turn(Role.USER, "Why is the sky blue?"),
        Turn(Role.ASSISTANT, "Rayleigh scattering."),
        Turn(Role.USER, "And at sunset?"),
    ]
    assert not turn.new and turn.conversation.id == conversation.id and turn.max_tokens == 64
    assert turn.prompt_estimate > 0 and turn.cache_key == ""  # the cache is off: no key worth computing


async def test_a_new_conversation_is_titled_from_the_message_and_nothing_is_stored_yet() -> None:
    chat = Chat(ScriptedProvider("p"), cache_ttl=60)
    turn = await prepare(chat)(ChatRequest(new_id(), "free", "Tell me   about\nthe  tides, please"))

    assert turn.new and turn.conversation.title == "Tell me about the tides, please"
    assert turn.cache_key.startswith("reply:")
    assert chat.db.table("conversations") == {} and chat.db.table("messages") == {}


async def test_a_tool_result_is_sent_as_the_new_turn_and_such_a_turn_is_never_answered_from_the_cache() -> None:
    chat = Chat(ScriptedProvider("p"), cache_ttl=60)
    asked = Turn(Role.ASSISTANT, "", tool_calls=(ToolCall("call_1", "now", "{}"),))
    result = Turn(Role.TOOL, '{"time":"noon"}', tool_call_id="call_1")
    options = CompletionOptions(tools=(Tool("now"),))

    turn = await prepare(chat)(
        ChatRequest(
            new_id(), "free", result.content, history=[Turn(Role.USER, "Time?"), asked], last=result, options=options
        )
    )

    assert turn.turns == [Turn(Role.USER, "Time?"), asked, result]
    assert turn.cache_key == "" and turn.completion_request(turn.spec.route[0]).options == options


async def test_an_image_to_a_model_that_does_not_accept_images_is_refused_naming_messages() -> None:
    chat = Chat(ScriptedProvider("p"))
    with_image = Turn(Role.USER, "What is this?", images=(Image("https://example.com/a.png"),))

    with pytest.raises(InvalidInput) as refused:
        await prepare(chat)(ChatRequest(new_id(), "free", with_image.content, last=with_image))

    assert refused.value.field == "messages"
