"""Which LLM providers and models this deployment offers, from settings (or a JSON models file).

Defaults: the offline demo models always (`parley-demo` for every plan, `parley-demo-large` for paid
plans); OpenAI's models when OPENAI_API_KEY or OPENAI_BASE_URL is set; Anthropic's when ANTHROPIC_API_KEY
is. PARLEY_MODELS_FILE replaces the model list (routes with failover, windows, prices, plans); see
docs/conversation.md. PARLEY_PLANS_FILE replaces the plans (docs/billing.md)."""

from __future__ import annotations

import json
from typing import Any

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


def _spec(model_id: str, provider: str, window: int, plans: frozenset[str], **extra: Any) -> ModelSpec:
    return ModelSpec(id=model_id, route=(RouteStep(provider, model_id),), context_window=window, plans=plans, **extra)


def default_models(settings: Settings, providers: dict[str, LlmProvider]) -> list[ModelSpec]:
    models = [
        _spec("parley-demo", "demo", 8_192, ALL_PLANS, default_max_tokens=256),
        _spec("parley-demo-large", "demo", 32_768, PAID_PLANS, default_max_tokens=512),
    ]
    if "openai" in providers:
        for index, name in enumerate(settings.openai_models):
            models.append(_spec(name, "openai", 128_000, ALL_PLANS if index == 0 else PAID_PLANS))
    if "anthropic" in providers:
        for index, name in enumerate(settings.anthropic_models):
            models.append(_spec(name, "anthropic", 200_000, ALL_PLANS if index == 0 else PAID_PLANS))
    return models


def models_from_file(path: str) -> list[ModelSpec]:
    """[{"id", "route": [{"provider", "model"}], "context_window", "plans", "prompt_price_per_mtok_cents"?,
    "completion_price_per_mtok_cents"?, "default_max_tokens"?}, ...]"""
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
        )
        for entry in entries
    ]


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
