"""The provider router: failover before the first token only, and circuit breakers that skip a failing provider."""

from __future__ import annotations

import pytest

from adapters.memory.llm import Script, ScriptedProvider
from application.conversation.circuit_breaker import CircuitBreaker
from application.conversation.router import ProviderRouter
from domain.conversation.catalogue import ModelSpec, RouteStep
from domain.conversation.errors import ProviderError, ProviderUnavailable
from domain.conversation.model import Role
from domain.conversation.ports import CompletionOptions, CompletionRequest, TextDelta, Tool, Turn


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def spec(*providers: str) -> ModelSpec:
    return ModelSpec("m", tuple(RouteStep(p, f"{p}-model") for p in providers), 8192, frozenset({"free"}))


def request(step: RouteStep) -> CompletionRequest:
    return CompletionRequest(step.upstream_model, [Turn(Role.USER, "hi")], 10)


async def test_the_first_provider_that_answers_serves_the_reply() -> None:
    a = ScriptedProvider("a", [Script(fail_after=0)])
    b = ScriptedProvider("b", [Script(pieces=("ok",))])
    router = ProviderRouter({"a": a, "b": b})
    opened = await router.open(spec("a", "b"), request)
    assert (opened.provider, opened.failovers, opened.first) == ("b", 1, TextDelta("ok"))
    assert b.requests[0].model == "b-model"


async def test_all_failing_is_provider_unavailable() -> None:
    router = ProviderRouter({"a": ScriptedProvider("a", [Script(fail_after=0)])})
    with pytest.raises(ProviderUnavailable):
        await router.open(spec("a"), request)


async def test_after_the_first_token_there_is_no_failover() -> None:
    a = ScriptedProvider("a", [Script(pieces=("one ", "two"), fail_after=1)])
    b = ScriptedProvider("b")
    router = ProviderRouter({"a": a, "b": b})
    opened = await router.open(spec("a", "b"), request)
    assert opened.first == TextDelta("one ")
    with pytest.raises(ProviderError):
        await anext(opened.events)
    assert b.requests == []


async def test_a_breaker_opens_after_repeated_failures_and_lets_a_trial_through_later() -> None:
    ticks = Ticks()
    a = ScriptedProvider("a", [Script(fail_after=0)] * 3)
    b = ScriptedProvider("b")
    router = ProviderRouter({"a": a, "b": b}, breaker_factory=lambda: CircuitBreaker(3, 30.0, ticks))
    for _ in range(3):
        await router.open(spec("a", "b"), request)
    assert router.breaker("a").state == "open"
    await router.open(spec("a", "b"), request)
    assert len(a.requests) == 3  # skipped while open
    ticks.now = 31.0
    assert router.breaker("a").state == "half-open"
    opened = await router.open(spec("a", "b"), request)  # the trial call succeeds (the script is used up)
    assert opened.provider == "a" and router.breaker("a").state == "closed"


def test_an_option_is_unsupported_when_any_configured_provider_of_the_route_lacks_it() -> None:
    tools = CompletionOptions(tools=(Tool("now"),), stop=("END",))
    both = ScriptedProvider("a", capabilities=frozenset({"tools", "stop"}))
    tools_only = ScriptedProvider("b", capabilities=frozenset({"tools"}))
    router = ProviderRouter({"a": both, "b": tools_only})

    assert router.unsupported(spec("a"), tools) is None
    assert router.unsupported(spec("a", "b"), tools) == "stop"  # failover may land on b
    assert router.unsupported(spec("a", "unconfigured"), tools) is None
    assert router.unsupported(spec("b"), CompletionOptions(user="end-user")) is None  # `user` is advisory
