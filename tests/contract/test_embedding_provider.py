"""Every embedding provider: one vector per input in the inputs' order, the provider's prompt count, and failures
as ProviderErrors that say whether another attempt could succeed. The OpenAI adapter runs through the real SDK
(`embeddings.create`, which asks for base64 and decodes it) against the local fake OpenAI."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.llm.demo import DemoProvider
from adapters.llm.demo_embeddings import demo_embedding
from adapters.llm.openai import OpenAiProvider
from domain.conversation.embedding import EmbeddingRequest
from domain.conversation.errors import ProviderError
from domain.conversation.tokens import estimate_tokens
from tests.support.fake_openai import FakeOpenAi, Scenario, fake_embedding

TEXTS = ("The quick brown fox", "jumps over the lazy dog", "twice")


@pytest.fixture
async def openai_provider(fake_openai: FakeOpenAi) -> AsyncIterator[OpenAiProvider]:
    provider = OpenAiProvider(api_key=fake_openai.api_key, base_url=fake_openai.base_url, max_retries=1)
    yield provider
    await provider.aclose()


async def test_openai_vectors_come_back_in_order_with_the_providers_count(
    openai_provider: OpenAiProvider, fake_openai: FakeOpenAi
) -> None:
    fake_openai.script(Scenario(prompt_tokens=17))
    result = await openai_provider.embed(EmbeddingRequest("text-embedding-3-small", TEXTS))
    assert [list(v) for v in result.vectors] == [fake_embedding(text) for text in TEXTS]
    assert result.prompt_tokens == 17
    sent = fake_openai.requests[-1]
    assert sent.path == "/v1/embeddings" and sent.body["input"] == list(TEXTS)
    assert sent.body["model"] == "text-embedding-3-small" and "dimensions" not in sent.body


async def test_openai_dimensions_are_passed_on(openai_provider: OpenAiProvider, fake_openai: FakeOpenAi) -> None:
    result = await openai_provider.embed(EmbeddingRequest("text-embedding-3-small", ["hi"], dimensions=3))
    assert [list(v) for v in result.vectors] == [fake_embedding("hi", 3)]
    assert fake_openai.requests[-1].body["dimensions"] == 3


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False), (401, False)])
async def test_openai_failures_are_provider_errors(
    openai_provider: OpenAiProvider, fake_openai: FakeOpenAi, status: int, retryable: bool
) -> None:
    fake_openai.script(*[Scenario(status=status)] * 2)  # the SDK retries the retryable ones once
    with pytest.raises(ProviderError) as failed:
        await openai_provider.embed(EmbeddingRequest("text-embedding-3-small", ["hi"]))
    assert (failed.value.status, failed.value.retryable) == (status, retryable)


async def test_openai_unreachable_is_a_retryable_provider_error() -> None:
    provider = OpenAiProvider(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0, connect_timeout=0.5)
    try:
        with pytest.raises(ProviderError) as failed:
            await provider.embed(EmbeddingRequest("text-embedding-3-small", ["hi"]))
    finally:
        await provider.aclose()
    assert failed.value.retryable


async def test_the_demo_model_embeds_offline_with_the_estimate_as_its_count() -> None:
    result = await DemoProvider().embed(EmbeddingRequest("parley-demo-embed", TEXTS))
    assert [list(v) for v in result.vectors] == [demo_embedding(text) for text in TEXTS]
    assert result.prompt_tokens == sum(estimate_tokens(text) for text in TEXTS)
    shorter = await DemoProvider().embed(EmbeddingRequest("parley-demo-embed", TEXTS, dimensions=16))
    assert {len(v) for v in shorter.vectors} == {16}
