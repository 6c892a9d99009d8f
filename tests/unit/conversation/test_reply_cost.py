"""What a reply costs: tokens x the model's price in cents per million tokens, in whole micro-dollars, summed
exactly over input and output and rounded once per reply, half up."""

from __future__ import annotations

import pytest

from domain.conversation.catalogue import ModelSpec, RouteStep, reply_cost_micros
from domain.conversation.model import Usage
from entrypoints.catalogue import default_models
from entrypoints.settings import Settings


@pytest.mark.parametrize(
    ("usage", "prices", "micros"),
    [
        (Usage(1_000_000, 1_000_000), (15, 60), 750_000),  # $0.15 + $0.60
        (Usage(1_234, 567), (15, 60), 525),  # 525.3 -> 525
        (Usage(1, 0), (50, 0), 1),  # exactly 0.5 -> 1 (half up)
        (Usage(1, 0), (49, 0), 0),  # 0.49 -> 0
        (Usage(3, 3), (25, 25), 2),  # 0.75 + 0.75 = 1.5 -> 2: summed before rounding, not 1 + 1
        (Usage(0, 0), (1_500, 7_500), 0),
        (Usage(10**9, 10**9), (1_500, 7_500), 90_000_000_000),  # no float anywhere: exact at any size
    ],
)
def test_the_cost_of_a_reply_is_rounded_half_up_once(usage: Usage, prices: tuple[int, int], micros: int) -> None:
    assert reply_cost_micros(usage, *prices) == micros
    spec = ModelSpec("m", (RouteStep("p", "m"),), 8192, frozenset({"free"}), *prices)
    assert spec.cost_micros(usage) == micros


def test_the_default_catalogue_prices_the_provider_models_and_not_the_demo_ones() -> None:
    settings = Settings(openai_api_key="k", anthropic_api_key="k", model_prices={"gpt-4o": (200, 900)})
    providers = dict.fromkeys(("demo", "openai", "anthropic"))
    prices = {
        m.id: (m.prompt_price_per_mtok_cents, m.completion_price_per_mtok_cents)
        for m in default_models(settings, providers)  # type: ignore[arg-type]
    }

    assert prices["parley-demo"] == prices["parley-demo-large"] == (0, 0)
    assert prices["gpt-4o-mini"] == (15, 60)
    assert prices["gpt-4o"] == (200, 900)  # PARLEY_MODEL_PRICES over the list price
    assert prices["claude-sonnet-4-5"] == (300, 1_500)


def test_a_negative_price_is_refused() -> None:
    with pytest.raises(ValueError, match="model_prices"):
        Settings(model_prices={"gpt-4o": (-1, 10)})
