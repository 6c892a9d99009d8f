"""The model catalogue: which models exist, the providers that serve each (in failover order), their
context windows, prices and the plans that may use them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from domain.conversation.errors import ModelNotAllowed, UnknownModel


@dataclass(frozen=True, slots=True)
class RouteStep:
    provider: str
    """A configured provider's name (`demo`, `openai`, `anthropic`, ...)."""
    upstream_model: str
    """The model's name at that provider."""


@dataclass(frozen=True, slots=True)
class ModelSpec:
    id: str
    route: tuple[RouteStep, ...]
    context_window: int
    plans: frozenset[str]
    prompt_price_per_mtok_cents: int = 0
    completion_price_per_mtok_cents: int = 0
    default_max_tokens: int = 1024

    @property
    def provider(self) -> str:
        return self.route[0].provider

    def allows(self, plan: str) -> bool:
        return plan in self.plans


class ModelCatalogue:
    def __init__(self, models: Iterable[ModelSpec], default_model: str | None = None) -> None:
        self._models = {model.id: model for model in models}
        if not self._models:
            raise ValueError("the catalogue needs at least one model")
        self.default_model = default_model if default_model in self._models else next(iter(self._models))

    def all(self) -> Sequence[ModelSpec]:
        return list(self._models.values())

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._models[model_id]
        except KeyError:
            raise UnknownModel(model_id) from None

    def for_plan(self, model_id: str | None, plan: str) -> ModelSpec:
        spec = self.get(model_id or self.default_model)
        if not spec.allows(plan):
            raise ModelNotAllowed(f"The {plan} plan does not include {spec.id}; upgrade to use it.")
        return spec
