"""The Embed use case on the in-memory adapters: what the ledger and the store hold after a call, the outbox
messages a call causes, a record that survives a database blink, and a failed call that costs nothing."""

from __future__ import annotations

import pytest

from adapters.llm.demo import DemoProvider
from adapters.memory.llm import ScriptedProvider
from application.conversation.embed import Embed, EmbedRequest
from application.shared import topics
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.embedding import EmbeddingRequest, EmbeddingResult
from domain.conversation.errors import ProviderError, ProviderUnavailable, QuotaExceeded
from domain.shared.ids import new_id
from tests.factories.conversation import PERIOD
from tests.unit.conversation.chat_harness import LIMIT, Chat, FixedAllowance
from tests.unit.conversation.test_chat_account import Flaky

SPEC = ModelSpec("emb", (RouteStep("demo", "parley-demo-embed"),), 8_192, frozenset({"free"}), 20, 0, kind="embedding")


class Down:
    name = "demo"

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        raise ProviderError("demo: down")


def embed(chat: Chat, provider: object | None = None, store: object | None = None) -> Embed:
    catalogue = ModelCatalogue([chat.spec, SPEC])
    providers = {"demo": provider or DemoProvider()}
    return Embed(catalogue, providers, chat.allowance, chat.quota, store or chat.store, chat.clock, retry_delays=(0,))  # type: ignore[arg-type]


async def test_a_call_is_settled_and_recorded_with_completion_zero_and_its_cost() -> None:
    chat = Chat(ScriptedProvider("p"))
    user = new_id()
    done = await embed(chat)(EmbedRequest(user, "free", "emb", ["abcd" * 10, "efgh"]))
    assert done.prompt_tokens == 11 and done.quota.used == 11 and done.provider == "demo"
    async with chat.uow() as uow:
        (model,) = await uow.usage.by_model(user, PERIOD)
    assert (model.model, model.requests, model.prompt_tokens, model.completion_tokens) == ("emb", 1, 11, 0)
    (record,) = chat.db.table("usage_records").values()
    assert record.message_id is None and record.cost_micros == 2  # 11 tokens at 20 c/Mtok: 2.2 micro-dollars


async def test_thresholds_and_overage_go_to_the_outbox() -> None:
    chat = Chat(ScriptedProvider("p"), allowance=FixedAllowance(overage=500))
    user = new_id()
    allowance = await chat.allowance.current(user, "free", chat.clock.now())
    await chat.spent(user, allowance, LIMIT - 5)
    await embed(chat)(EmbedRequest(user, "free", "emb", ["x" * 40]))  # 10 tokens: past 100%, 5 over
    by_topic = {m.topic: m.payload for m in chat.outbox()}  # type: ignore[attr-defined]
    assert by_topic[topics.OVERAGE]["tokens"] == 5 and by_topic[topics.QUOTA_THRESHOLD]["threshold"] == 100


async def test_quota_refuses_before_the_provider_is_called() -> None:
    chat = Chat(ScriptedProvider("p"))
    with pytest.raises(QuotaExceeded):
        await embed(chat)(EmbedRequest(new_id(), "free", "emb", ["x" * 4 * (LIMIT + 1)]))
    assert chat.db.table("usage_records") == {}


async def test_every_provider_failing_releases_the_reservation() -> None:
    chat = Chat(ScriptedProvider("p"))
    user = new_id()
    with pytest.raises(ProviderUnavailable):
        await embed(chat, Down())(EmbedRequest(user, "free", "emb", ["hello"]))
    balance = await chat.quota.balance(user, await chat.allowance.current(user, "free", chat.clock.now()))
    assert (balance.used, balance.reserved) == (0, 0) and chat.db.table("usage_records") == {}


@pytest.mark.parametrize("stored", [False, True], ids=["failed-before-writing", "answer-lost-after-commit"])
async def test_the_record_survives_a_database_blink_and_is_stored_once(stored: bool) -> None:
    chat = Chat(ScriptedProvider("p"))
    user = new_id()
    await embed(chat, store=Flaky(chat.store, 1, stored=stored))(EmbedRequest(user, "free", "emb", ["hello"]))
    async with chat.uow() as uow:
        assert await uow.usage.total_for_period(user, PERIOD) == 2
    assert len(chat.db.table("usage_records")) == 1
