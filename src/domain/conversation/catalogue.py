"""The model catalogue: which models exist, the providers that serve each (in failover order), their
context windows, prices and the plans that may use them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from domain.conversation.errors import ModelNotAllowed, UnknownModel
from domain.conversation.model import Usage
from domain.shared.errors import InvalidInput

MICROS_PER_CENT = 10_000
TOKENS_PER_PRICE_UNIT = 1_000_000


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
    """What the provider charges per million input tokens, in US cents (0 for the demo models)."""
    completion_price_per_mtok_cents: int = 0
    """Per million output tokens, in US cents."""
    default_max_tokens: int = 1024
    accepts_images: bool = False
    """The model reads image parts of user messages (else a request with one is refused)."""
    kind: Literal["chat", "embedding"] = "chat"
    """A chat model answers chat turns; an embedding model answers /v1/embeddings (and only that)."""
    dimensions: int | None = None
    """An embedding model's vector length (None: the provider's default, unknown here)."""
    custom_dimensions: bool = False
    """Whether the embedding model can shorten its vectors on request (OpenAI's `dimensions`)."""

    @property
    def provider(self) -> str:
        return self.route[0].provider

    def allows(self, plan: str) -> bool:
        return plan in self.plans

    def cost_micros(self, usage: Usage) -> int:
        """What a reply of `usage` costs at this model's prices, in millionths of a dollar, rounded half up."""
        return reply_cost_micros(usage, self.prompt_price_per_mtok_cents, self.completion_price_per_mtok_cents)


def reply_cost_micros(usage: Usage, prompt_cents_per_mtok: int, completion_cents_per_mtok: int) -> int:
    """tokens x cents per million tokens x 10,000 micro-dollars per cent / 1,000,000 tokens, for both sides,
    summed exactly, then rounded once, half up, to a whole micro-dollar (integers only: no float ever rounds).
    E.g. 1,234 input tokens at 15 c/Mtok and 567 output tokens at 60 c/Mtok: (18,510 + 34,020) / 100 = 525.3
    -> 525 micro-dollars."""
    exact = (
        usage.prompt_tokens * prompt_cents_per_mtok + usage.completion_tokens * completion_cents_per_mtok
    ) * MICROS_PER_CENT
    return (exact + TOKENS_PER_PRICE_UNIT // 2) // TOKENS_PER_PRICE_UNIT


class ModelCatalogue:
    def __init__(self, models: Iterable[ModelSpec], default_model: str | None = None) -> None:
        self._models = {model.id: model for model in models}
        if not self._models:
            raise ValueError("the catalogue needs at least one model")
        chat = [model.id for model in self._models.values() if model.kind == "chat"]
        fallback = chat[0] if chat else next(iter(self._models))
        self.default_model = default_model if default_model in chat else fallback

    def all(self) -> Sequence[ModelSpec]:
        return list(self._models.values())

    def get(self, model_id: str) -> ModelSpec:
        try:
            return self._models[model_id]
        except KeyError:
            raise UnknownModel(model_id) from None

    def for_plan(self, model_id: str | None, plan: str, kind: Literal["chat", "embedding"] = "chat") -> ModelSpec:
        """The model (the default one when None) if it is of `kind` and the plan includes it: a chat turn refuses
        an embedding model and an embedding request a chat model (InvalidInput naming `model`)."""
        spec = self.get(model_id or self.default_model)
        if spec.kind != kind:
            if spec.kind == "embedding":
                raise InvalidInput("model", f"{spec.id} is an embedding model: use it with /v1/embeddings.")
            raise InvalidInput("model", f"{spec.id} is a chat model, not an embedding model.")
        if not spec.allows(plan):
            raise ModelNotAllowed(f"The {plan} plan does not include {spec.id}; upgrade to use it.")
        return spec
