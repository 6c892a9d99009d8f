"""Which LLM providers and models this deployment offers, from settings (or a JSON models file).

Defaults: the offline demo models always (`parley-demo` for every plan, `parley-demo-large` for paid
plans, the embedding model `parley-demo-embed` for every plan); OpenAI's chat and embedding models when
OPENAI_API_KEY or OPENAI_BASE_URL is set; Anthropic's when ANTHROPIC_API_KEY is. PARLEY_MODELS_FILE replaces
the model list (routes with failover, windows, prices, plans, kinds); see docs/conversation.md.
PARLEY_PLANS_FILE replaces the plans (docs/billing.md)."""

from __future__ import annotations

import json
from typing import Any, Literal

from application.billing.plans import DEFAULT_PLANS, with_overage
from domain.billing.model import Plan
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.ports import LlmProvider
from entrypoints.settings import Settings

ALL_PLANS = frozenset({"free", "plus", "pro"})
PAID_PLANS = frozenset({"plus", "pro"})


def build_providers(settings: Settings) -> dict[str, LlmProvider]:
    from adapters.llm.demo import DemoProvider

    providers: dict[str, LlmProvider] = {"demo": DemoProvider(delay_seconds=settings.demo_delay_ms / 1000)}
    if settings.openai_api_key or settings.openai_base_url:
        from adapters.llm.openai import OpenAiProvider

        providers["openai"] = OpenAiProvider(
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url,
            connect_timeout=settings.provider_connect_timeout_seconds,
            read_timeout=settings.provider_read_timeout_seconds,
        )
    if settings.anthropic_api_key:
        from adapters.llm.anthropic import AnthropicProvider

        providers["anthropic"] = AnthropicProvider(
            api_key=settings.anthropic_api_key,
            base_url=settings.anthropic_base_url,
            connect_timeout=settings.provider_connect_timeout_seconds,
            read_timeout=settings.provider_read_timeout_seconds,
        )
    return providers


LIST_PRICES: dict[str, tuple[int, int]] = {
    "gpt-4o-mini": (15, 60),
    "gpt-4o": (250, 1_000),
    "gpt-4.1": (200, 800),
    "gpt-4.1-mini": (40, 160),
    "gpt-4.1-nano": (10, 40),
    "o3-mini": (110, 440),
    "o4-mini": (110, 440),
    "claude-3-5-haiku-latest": (80, 400),
    "claude-3-5-haiku-20241022": (80, 400),
    "claude-haiku-4-5": (100, 500),
    "claude-sonnet-4-5": (300, 1_500),
    "claude-sonnet-4-0": (300, 1_500),
    "claude-opus-4-1": (1_500, 7_500),
    "text-embedding-3-small": (2, 0),
    "text-embedding-3-large": (13, 0),
    "text-embedding-ada-002": (10, 0),
}
"""The providers' list prices, in US cents per million (input, output) tokens, of the models the default
catalogue may offer; PARLEY_MODEL_PRICES overrides or adds to them, and a model in neither costs 0."""

VISION_MODELS = frozenset(
    {
        "gpt-4o-mini",
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o4-mini",
        "claude-haiku-4-5",
        "claude-sonnet-4-5",
        "claude-sonnet-4-0",
        "claude-opus-4-1",
    }
)
"""The models of the default catalogue that read images (`accepts_images`); the demo models read none."""


EMBEDDING_SHAPES: dict[str, tuple[int, bool]] = {
    "text-embedding-3-small": (1536, True),
    "text-embedding-3-large": (3072, True),
    "text-embedding-ada-002": (1536, False),
}
"""OpenAI's embedding models: (vector length, whether `dimensions` may shorten it). Another name is offered
with the provider's default length and without `dimensions`."""
EMBEDDING_CONTEXT_WINDOW = 8_191
DEMO_EMBEDDING_MODEL = "parley-demo-embed"


def _embedding(model_id: str, provider: str, plans: frozenset[str], **extra: Any) -> ModelSpec:
    dimensions, custom = EMBEDDING_SHAPES.get(model_id, (None, False))
    return _spec(
        model_id,
        provider,
        EMBEDDING_CONTEXT_WINDOW,
        plans,
        kind="embedding",
        dimensions=extra.pop("dimensions", dimensions),
        custom_dimensions=extra.pop("custom_dimensions", custom),
        **extra,
    )


def _spec(model_id: str, provider: str, window: int, plans: frozenset[str], **extra: Any) -> ModelSpec:
    return ModelSpec(id=model_id, route=(RouteStep(provider, model_id),), context_window=window, plans=plans, **extra)


def _priced(settings: Settings, name: str) -> dict[str, Any]:
    prompt, completion = settings.model_prices.get(name) or LIST_PRICES.get(name, (0, 0))
    return {
        "prompt_price_per_mtok_cents": prompt,
        "completion_price_per_mtok_cents": completion,
        "accepts_images": name in VISION_MODELS,
    }


def default_models(settings: Settings, providers: dict[str, LlmProvider]) -> list[ModelSpec]:
    models = [  # the demo models call no provider: they cost nothing
        _spec("parley-demo", "demo", 8_192, ALL_PLANS, default_max_tokens=256),
        _spec("parley-demo-large", "demo", 32_768, PAID_PLANS, default_max_tokens=512),
        _embedding(DEMO_EMBEDDING_MODEL, "demo", ALL_PLANS, dimensions=64, custom_dimensions=True),
    ]
    if "openai" in providers:
        for index, name in enumerate(settings.openai_models):
            plans = ALL_PLANS if index == 0 else PAID_PLANS
            models.append(_spec(name, "openai", 128_000, plans, **_priced(settings, name)))
        for index, name in enumerate(settings.openai_embedding_models):
            plans = ALL_PLANS if index == 0 else PAID_PLANS
            models.append(_embedding(name, "openai", plans, **_priced(settings, name)))
    if "anthropic" in providers:
        for index, name in enumerate(settings.anthropic_models):
            plans = ALL_PLANS if index == 0 else PAID_PLANS
            models.append(_spec(name, "anthropic", 200_000, plans, **_priced(settings, name)))
    return models


def models_from_file(path: str) -> list[ModelSpec]:
    """[{"id", "route": [{"provider", "model"}], "context_window", "plans", "prompt_price_per_mtok_cents"?,
    "completion_price_per_mtok_cents"?, "default_max_tokens"?, "accepts_images"?, "kind"? ("chat" or "embedding"),
    "dimensions"?, "custom_dimensions"?}, ...]"""
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)
    return [
        ModelSpec(
            id=entry["id"],
            route=tuple(RouteStep(step["provider"], step.get("model", entry["id"])) for step in entry["route"]),
            context_window=int(entry["context_window"]),
            plans=frozenset(entry.get("plans", sorted(ALL_PLANS))),
            prompt_price_per_mtok_cents=int(entry.get("prompt_price_per_mtok_cents", 0)),
            completion_price_per_mtok_cents=int(entry.get("completion_price_per_mtok_cents", 0)),
            default_max_tokens=int(entry.get("default_max_tokens", 1024)),
            accepts_images=bool(entry.get("accepts_images", False)),
            kind=_kind(entry.get("kind", "chat")),
            dimensions=int(entry["dimensions"]) if entry.get("dimensions") is not None else None,
            custom_dimensions=bool(entry.get("custom_dimensions", False)),
        )
        for entry in entries
    ]


def _kind(value: object) -> Literal["chat", "embedding"]:
    if value == "chat":
        return "chat"
    if value == "embedding":
        return "embedding"
    raise ValueError(f"a model's kind is chat or embedding, not {value!r}")


def plans_from_file(path: str) -> list[Plan]:
    """[{"id", "name", "price_cents", "currency"?, "token_quota", "models"?, "features"?, "rank"?,
    "overage_per_1k_tokens_cents"?}, ...]; a `free` plan is required."""
    with open(path, encoding="utf-8") as handle:
        entries = json.load(handle)
    return [
        Plan(
            id=entry["id"],
            name=entry.get("name", entry["id"].title()),
            price_cents=int(entry["price_cents"]),
            currency=entry.get("currency", "usd"),
            token_quota=int(entry["token_quota"]),
            models=entry.get("models", "all"),
            features=tuple(entry.get("features", ())),
            rank=int(entry.get("rank", index)),
            overage_per_1k_tokens_cents=entry.get("overage_per_1k_tokens_cents"),
        )
        for index, entry in enumerate(entries)
    ]


def build_plans(settings: Settings) -> list[Plan]:
    plans = plans_from_file(str(settings.plans_file)) if settings.plans_file else list(DEFAULT_PLANS)
    return with_overage(plans, settings.overage_cents_per_1k_tokens)


def build_catalogue(settings: Settings, providers: dict[str, LlmProvider]) -> ModelCatalogue:
    models = (
        models_from_file(str(settings.models_file)) if settings.models_file else default_models(settings, providers)
    )
    served = [m for m in models if any(step.provider in providers for step in m.route)]
    return ModelCatalogue(served, settings.default_model)
