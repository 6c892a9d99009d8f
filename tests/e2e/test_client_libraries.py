"""Third-party client libraries against a real `parley serve`, as their users configure them for an
OpenAI-compatible server: LiteLLM's SDK (`openai/<model>` with `api_base`) and LangChain's ChatOpenAI and
OpenAIEmbeddings (`base_url`), chat plain and streamed, and embeddings, on the demo models and, through Parley,
on a (fake) OpenAI upstream. Everything runs offline: LiteLLM reads its bundled model cost map instead of
fetching it, and LangChain's tracing is off."""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Iterator
from functools import reduce

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before litellm is imported: no fetch of the cost map
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LANGSMITH_TRACING"] = "false"

import httpx
import litellm
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

from adapters.llm.demo_embeddings import demo_embedding
from tests.support.accounts import bearer, verified_api_key
from tests.support.fake_openai import FakeOpenAi, Scenario, fake_embedding
from tests.support.server import ServerProcess, running_server

litellm.telemetry = False
QUESTION = "Say hello to the client libraries"


@pytest.fixture(scope="module")
def api_key(server: ServerProcess) -> str:
    return verified_api_key(server, "libraries")


def usage_of(server: ServerProcess, key: str) -> dict[str, dict[str, int]]:
    usage = httpx.get(f"{server.url}/api/usage", headers=bearer(key), timeout=10.0).json()
    return {row["model"]: row for row in usage["by_model"]}


def test_litellm_completion_plain_and_streamed(server: ServerProcess, api_key: str) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    options = {"model": "openai/parley-demo", "api_base": f"{server.url}/v1", "api_key": api_key}
    reply = litellm.completion(messages=messages, **options)
    text = reply.choices[0].message.content
    assert text and QUESTION in text and reply.usage.total_tokens > 0

    chunks = list(litellm.completion(messages=messages, stream=True, **options))
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == text


def test_litellm_embedding(server: ServerProcess, api_key: str) -> None:
    texts = ["reset my password", "how do I reset a password", "quarterly revenue"]
    before = usage_of(server, api_key).get("parley-demo-embed", {}).get("prompt_tokens", 0)
    result = litellm.embedding(
        model="openai/parley-demo-embed", input=texts, api_base=f"{server.url}/v1", api_key=api_key
    )
    vectors = [item["embedding"] for item in result.data]
    assert vectors[0] == pytest.approx(demo_embedding(texts[0]), abs=1e-6)
    assert result.usage.prompt_tokens > 0
    after = usage_of(server, api_key)["parley-demo-embed"]
    assert after["prompt_tokens"] - before == result.usage.prompt_tokens and after["completion_tokens"] == 0


def test_langchain_chat_openai_invoke_and_stream(server: ServerProcess, api_key: str) -> None:
    chat = ChatOpenAI(model="parley-demo", base_url=f"{server.url}/v1", api_key=api_key, max_retries=0)
    answer = chat.invoke(QUESTION)
    assert isinstance(answer.content, str) and QUESTION in answer.content
    assert answer.usage_metadata is not None and answer.usage_metadata["total_tokens"] > 0
    streamed = "".join(str(chunk.content) for chunk in chat.stream(QUESTION))
    assert streamed == answer.content


def test_langchain_openai_embeddings(server: ServerProcess, api_key: str) -> None:
    embeddings = OpenAIEmbeddings(
        model="parley-demo-embed",
        base_url=f"{server.url}/v1",
        api_key=api_key,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,  # send the text, not tiktoken's token arrays
        max_retries=0,
    )
    documents = ["Resetting a forgotten password", "Invoices are sent monthly", "The weather is sunny"]
    vectors = embeddings.embed_documents(documents)
    query = embeddings.embed_query("how do I reset my password")
    assert len(vectors) == 3 and {len(v) for v in vectors} == {64}
    best = max(range(3), key=lambda i: sum(a * b for a, b in zip(query, vectors[i], strict=True)))
    assert documents[best] == "Resetting a forgotten password"


@pytest.fixture(scope="module")
def openai_server(tmp_path_factory: pytest.TempPathFactory, fake_openai_server: FakeOpenAi) -> Iterator[ServerProcess]:
    """Parley with OpenAI configured (the fake): its chat and embedding models beside the demo ones."""
    yield from running_server(
        tmp_path_factory.mktemp("openai"),
        OPENAI_API_KEY=fake_openai_server.api_key,
        OPENAI_BASE_URL=fake_openai_server.base_url,
        PARLEY_OPENAI_EMBEDDING_MODELS="text-embedding-3-small",
    )


@pytest.fixture(scope="module")
def openai_key(openai_server: ServerProcess) -> str:
    return verified_api_key(openai_server, "lc")


def test_langchain_embeddings_reach_openai_through_parley(
    openai_server: ServerProcess, openai_key: str, fake_openai: FakeOpenAi
) -> None:
    key = openai_key
    fake_openai.script(Scenario(prompt_tokens=9))
    embeddings = OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=f"{openai_server.url}/v1",
        api_key=key,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        dimensions=4,
        max_retries=0,
    )
    vectors = embeddings.embed_documents(["one two", "three"])
    assert vectors == [fake_embedding("one two", 4), fake_embedding("three", 4)]
    sent = fake_openai.requests[-1].body
    assert (sent["model"], sent["input"], sent["dimensions"]) == ("text-embedding-3-small", ["one two", "three"], 4)
    by_model = usage_of(openai_server, key)
    assert by_model["text-embedding-3-small"]["prompt_tokens"] == 9
    assert by_model["text-embedding-3-small"]["requests"] == 1


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city now.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASKS_FOR_WEATHER = Scenario(reply="", tool_calls=(("get_weather", '{"city": "Paris"}'),), prompt_tokens=20)
ANSWERS = Scenario(reply="Sunny in Paris.", prompt_tokens=30, completion_tokens=5)


def _tool_result_reached(fake: FakeOpenAi, call_id: str) -> None:
    """The second round's request carried the client's tool result, answering the call the model made."""
    last = fake.requests[-1].body["messages"][-1]
    assert (last["role"], last["tool_call_id"], last["content"]) == ("tool", call_id, "sunny, 21 C")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_litellm_tool_round_trip_through_parley(
    openai_server: ServerProcess, openai_key: str, fake_openai: FakeOpenAi, stream: bool
) -> None:
    options = {"model": "openai/gpt-4o-mini", "api_base": f"{openai_server.url}/v1", "api_key": openai_key}
    before = usage_of(openai_server, openai_key).get("gpt-4o-mini", {}).get("requests", 0)
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    fake_openai.script(ASKS_FOR_WEATHER, ANSWERS)
    if stream:
        chunks = list(litellm.completion(messages=messages, tools=[WEATHER_TOOL], stream=True, **options))
        asked = litellm.stream_chunk_builder(chunks, messages=messages).choices[0]
    else:
        asked = litellm.completion(messages=messages, tools=[WEATHER_TOOL], **options).choices[0]
    assert asked.finish_reason == "tool_calls"
    [call] = asked.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}

    messages += [asked.message.model_dump(), {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}]
    final = litellm.completion(messages=messages, tools=[WEATHER_TOOL], **options).choices[0]
    assert (final.finish_reason, final.message.content) == ("stop", "Sunny in Paris.")
    _tool_result_reached(fake_openai, call.id)
    assert usage_of(openai_server, openai_key)["gpt-4o-mini"]["requests"] - before == 2


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_langchain_tool_round_trip_through_parley(
    openai_server: ServerProcess, openai_key: str, fake_openai: FakeOpenAi, stream: bool
) -> None:
    chat = ChatOpenAI(model="gpt-4o-mini", base_url=f"{openai_server.url}/v1", api_key=openai_key, max_retries=0)
    with_tools = chat.bind_tools([WEATHER_TOOL])
    question = HumanMessage("Weather in Paris?")
    fake_openai.script(ASKS_FOR_WEATHER, ANSWERS)
    if stream:
        asked: AIMessage = reduce(operator.add, with_tools.stream([question]))  # type: ignore[assignment]
    else:
        asked = with_tools.invoke([question])  # type: ignore[assignment]
    [call] = asked.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    assert call["id"]

    final = with_tools.invoke([question, asked, ToolMessage("sunny, 21 C", tool_call_id=call["id"])])
    assert final.content == "Sunny in Paris."
    _tool_result_reached(fake_openai, call["id"])
