"""POST /v1/embeddings in-process, through the official `openai` SDK and raw HTTP: OpenAI's wire format (float
and base64, `dimensions`), metering through the quota ledger and GET /api/usage, the kind checks both ways, the
batch and token-array refusals naming `input`, and failover between embedding providers."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from adapters.llm.demo_embeddings import demo_embedding
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.embedding import EmbeddingRequest, EmbeddingResult
from domain.conversation.errors import ProviderError
from domain.conversation.tokens import estimate_tokens
from tests.support.app import app_client, bearer, memory_container, verified_user_token

ALL = frozenset({"free", "plus", "pro"})


@dataclass
class Api:
    client: httpx.AsyncClient
    sdk: openai.AsyncOpenAI
    headers: dict[str, str]


async def _api(container_client: httpx.AsyncClient, token: str) -> Api:
    created = await container_client.post("/api/keys", json={"name": "sdk"}, headers=bearer(token))
    key = created.json()["key"]
    sdk = openai.AsyncOpenAI(
        base_url=str(container_client.base_url.join("/v1")), api_key=key, http_client=container_client, max_retries=0
    )
    return Api(container_client, sdk, bearer(key))


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    """The default catalogue: the demo models, `parley-demo-embed` among them."""
    container = memory_container(tmp_path)
    async with app_client(container) as client:
        yield await _api(client, await verified_user_token(container, "ada@example.com"))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_the_sdk_embeds_with_the_demo_model(api: Api) -> None:
    texts = ["How do I reset my password?", "how can I reset my password", "Revenue grew in Europe."]
    created = await api.sdk.embeddings.create(model="parley-demo-embed", input=texts)  # the SDK asks for base64
    assert created.object == "list" and created.model == "parley-demo-embed"
    assert [item.index for item in created.data] == [0, 1, 2]
    vectors = [item.embedding for item in created.data]
    assert vectors[0] == pytest.approx(demo_embedding(texts[0]), abs=1e-6)
    assert {len(v) for v in vectors} == {64} and math.isclose(cosine(vectors[0], vectors[0]), 1.0, abs_tol=1e-5)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    tokens = sum(estimate_tokens(text) for text in texts)
    assert created.usage.prompt_tokens == created.usage.total_tokens == tokens

    usage = (await api.client.get("/api/usage", headers=api.headers)).json()
    assert usage["used"] == tokens
    by_model = {row["model"]: row for row in usage["by_model"]}
    assert by_model["parley-demo-embed"]["prompt_tokens"] == tokens
    assert by_model["parley-demo-embed"]["completion_tokens"] == 0 and by_model["parley-demo-embed"]["requests"] == 1


async def test_the_wire_format_floats_base64_and_dimensions(api: Api) -> None:
    plain = await api.client.post(
        "/v1/embeddings", json={"model": "parley-demo-embed", "input": "hello world"}, headers=api.headers
    )
    assert plain.status_code == 200
    body = plain.json()
    assert body["object"] == "list" and body["data"][0]["object"] == "embedding" and body["data"][0]["index"] == 0
    assert body["data"][0]["embedding"] == pytest.approx(demo_embedding("hello world"))
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}

    packed = await api.client.post(
        "/v1/embeddings",
        json={"model": "parley-demo-embed", "input": ["hello world"], "encoding_format": "base64", "dimensions": 16},
        headers=api.headers,
    )
    raw = base64.b64decode(packed.json()["data"][0]["embedding"])
    assert list(struct.unpack("<16f", raw)) == pytest.approx(demo_embedding("hello world", 16), abs=1e-6)

    too_many = await api.sdk.embeddings.with_raw_response.create(model="parley-demo-embed", input="x", dimensions=8)
    assert len(too_many.parse().data[0].embedding) == 8
    with pytest.raises(openai.BadRequestError) as wide:
        await api.sdk.embeddings.create(model="parley-demo-embed", input="x", dimensions=65)
    assert wide.value.param == "dimensions"


@pytest.mark.parametrize(
    ("given", "param"),
    [
        ({"input": [1, 2, 3]}, "input"),
        ({"input": [[1, 2], [3]]}, "input"),
        ({"input": []}, "input"),
        ({"input": ["fine", ""]}, "input"),
        ({"input": ["x"] * 2049}, "input"),
        ({"input": "x" * (4 * 8_191 + 1)}, "input"),
        ({"input": ["ok", 3]}, "input"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "model": "parley-demo"}, "model"),
    ],
)
async def test_refused_requests_name_the_param_and_cost_nothing(api: Api, given: dict[str, object], param: str) -> None:
    answer = await api.client.post("/v1/embeddings", json={"model": "parley-demo-embed", **given}, headers=api.headers)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert (await api.client.get("/api/usage", headers=api.headers)).json()["used"] == 0


async def test_embedding_models_refuse_chat_and_are_listed_on_v1_only(api: Api) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        await api.sdk.chat.completions.create(model="parley-demo-embed", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.param == "model" and "/v1/embeddings" in refused.value.message
    chat = await api.client.post("/api/chat", json={"content": "hi", "model": "parley-demo-embed"}, headers=api.headers)
    assert chat.status_code == 422 and chat.json()["errors"][0]["field"] == "model"
    assert "parley-demo-embed" in [m.id for m in (await api.sdk.models.list()).data]
    assert (await api.sdk.models.retrieve("parley-demo-embed")).id == "parley-demo-embed"
    listed = (await api.client.get("/api/models", headers=api.headers)).json()
    assert "parley-demo-embed" not in [m["id"] for m in listed["items"]]
    with pytest.raises(openai.NotFoundError):
        await api.sdk.embeddings.create(model="no-such-model", input="x")


async def test_a_bad_key_is_401_in_openai_body(api: Api) -> None:
    answer = await api.client.post("/v1/embeddings", json={"model": "parley-demo-embed", "input": "x"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_api_key"


async def test_quota_is_reserved_from_the_estimate_and_exhaustion_is_429(api: Api) -> None:
    big = "word " * 6_000  # 7,500 tokens by the estimate: the free plan's 10,000 hold one such request, not two
    await api.sdk.embeddings.create(model="parley-demo-embed", input=big)
    with pytest.raises(openai.RateLimitError) as exhausted:
        await api.sdk.embeddings.create(model="parley-demo-embed", input=big)
    assert exhausted.value.code == "insufficient_quota"
    assert (await api.client.get("/api/usage", headers=api.headers)).json()["used"] == estimate_tokens(big)


class Embedder:
    """An embedding provider that fails with the errors given, then answers [len(text)] with `tokens`."""

    def __init__(self, name: str, failures: list[ProviderError] | None = None, tokens: int | None = None) -> None:
        self.name = name
        self.failures = failures or []
        self.tokens = tokens
        self.calls: list[EmbeddingRequest] = []

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        self.calls.append(request)
        if self.failures:
            raise self.failures.pop(0)
        return EmbeddingResult([[float(len(text))] for text in request.inputs], self.tokens)


async def _routed(tmp_path: Path, first: Embedder, second: Embedder) -> AsyncIterator[Api]:
    spec = ModelSpec(
        "emb",
        (RouteStep(first.name, "up-1"), RouteStep(second.name, "up-2")),
        8_192,
        ALL,
        prompt_price_per_mtok_cents=2,
        kind="embedding",
    )
    chat = ModelSpec("chat", (RouteStep("demo", "parley-demo"),), 8_192, ALL)
    container = memory_container(
        tmp_path,
        providers={first.name: first, second.name: second},
        catalogue=ModelCatalogue([chat, spec]),
    )
    async with app_client(container) as client:
        yield await _api(client, await verified_user_token(container, "bo@example.com"))


async def test_a_retryable_failure_fails_over_and_the_providers_count_is_charged(tmp_path: Path) -> None:
    first, second = Embedder("one", [ProviderError("one: 503")]), Embedder("two", tokens=42)
    async for api in _routed(tmp_path, first, second):
        created = await api.sdk.embeddings.create(model="emb", input=["abc", "de"], encoding_format="float")
        assert [d.embedding for d in created.data] == [[3.0], [2.0]] and created.usage.prompt_tokens == 42
        assert second.calls[0].model == "up-2" and second.calls[0].dimensions is None
        usage = (await api.client.get("/api/usage", headers=api.headers)).json()
        assert usage["used"] == 42 and usage["by_model"][0]["model"] == "emb"
        with pytest.raises(openai.BadRequestError) as no_dimensions:
            await api.sdk.embeddings.create(model="emb", input="x", dimensions=4)
        assert no_dimensions.value.param == "dimensions"


async def test_every_provider_failing_is_503_and_nothing_is_charged(tmp_path: Path) -> None:
    first = Embedder("one", [ProviderError("one: 503")])
    second = Embedder("two", [ProviderError("two: 500")])
    async for api in _routed(tmp_path, first, second):
        with pytest.raises(openai.InternalServerError) as failed:
            await api.sdk.embeddings.create(model="emb", input="x")
        assert failed.value.status_code == 503
        assert (await api.client.get("/api/usage", headers=api.headers)).json()["used"] == 0


async def test_an_upstream_400_is_the_inputs_fault(tmp_path: Path) -> None:
    first = Embedder("one", [ProviderError("one: too long", retryable=False, status=400)])
    async for api in _routed(tmp_path, first, Embedder("two")):
        with pytest.raises(openai.BadRequestError) as refused:
            await api.sdk.embeddings.create(model="emb", input="x")
        assert refused.value.param == "input"
