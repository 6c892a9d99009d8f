"""The plans on offer (API.md defaults; configurable through settings)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from domain.billing.errors import UnknownPlan
from domain.billing.model import Plan

DEFAULT_PLANS = (
    Plan("free", "Free", 0, "usd", 10_000, "basic", ("Basic models", "10,000 tokens a month"), rank=0),
    Plan("plus", "Plus", 2_000, "usd", 100_000, "all", ("All models", "100,000 tokens a month"), rank=1),
    Plan(
        "pro",
        "Pro",
        5_000,
        "usd",
        500_000,
        "all",
        ("All models", "500,000 tokens a month", "Priority"),
        rank=2,
    ),
)


def with_overage(plans: Iterable[Plan], cents_per_1k_tokens: Mapping[str, int]) -> list[Plan]:
    """The plans, with usage-based overage turned on for those given a rate (cents per 1,000 tokens)."""
    return [
        replace(plan, overage_per_1k_tokens_cents=cents_per_1k_tokens[plan.id])
        if plan.id in cents_per_1k_tokens and not plan.is_free
        else plan
        for plan in plans
    ]


class StaticPlanCatalogue:
    def __init__(self, plans: Iterable[Plan] = DEFAULT_PLANS) -> None:
        self._plans = {plan.id: plan for plan in sorted(plans, key=lambda p: p.rank)}
        if "free" not in self._plans:
            raise ValueError("a free plan is required")

    def all(self) -> Sequence[Plan]:
        return list(self._plans.values())

    def get(self, plan_id: str) -> Plan:
        try:
            return self._plans[plan_id]
        except KeyError:
            raise UnknownPlan(plan_id) from None

    @property
    def free(self) -> Plan:
        return self._plans["free"]
