"""Named rate limits (defaults in docs/api.md) applied by route handlers, with RateLimit-* headers on every
response of a limited route and 429 + Retry-After when a limit is reached. Counting happens in the
RateLimiter port, so with Redis the limits hold across every API process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from application.shared.ports import RateLimitDecision, RateLimiter
from domain.shared.errors import RateLimited
from entrypoints.http.client_ip import Network, client_ip

STATE_KEY = "rate_limit"


@dataclass(frozen=True, slots=True)
class Rule:
    scope: str  # "ip", "email" or "user"
    limit: int
    window_seconds: int


RULES: dict[str, tuple[Rule, ...]] = {
    "signup": (Rule("ip", 5, 3600),),
    "signin": (Rule("ip", 10, 900), Rule("email", 10, 900)),
    "change-password": (Rule("user", 10, 900),),
    "delete-account": (Rule("user", 10, 900),),
    "forgot-password": (Rule("email", 3, 3600),),
    "resend-verification": (Rule("email", 3, 3600),),
    "billing-change": (Rule("user", 5, 3600),),
    "chat": (Rule("user", 100, 60),),
    "count-tokens": (Rule("user", 100, 60),),
    "conversation-list": (Rule("user", 60, 60),),
}


class RateLimitExceeded(RateLimited):
    def __init__(self, decision: RateLimitDecision) -> None:
        super().__init__(decision.retry_after)
        self.decision = decision


class RateLimits:
    def __init__(self, limiter: RateLimiter, *, enabled: bool, trusted_proxies: list[Network]) -> None:
        self._limiter = limiter
        self._enabled = enabled
        self._trusted = trusted_proxies

    async def check(
        self, request: Request[Any, Any, Any], name: str, *, email: str | None = None, user_id: str | None = None
    ) -> None:
        """Count this request against every rule of `name`; raise RateLimitExceeded if any refuses."""
        if not self._enabled:
            return
        values = {"ip": client_ip(request.scope, self._trusted), "email": _email_key(email), "user": user_id}
        decisions = []
        for rule in RULES[name]:
            value = values[rule.scope]
            if value is None:
                continue
            key = f"{name}:{rule.scope}:{value}"
            decisions.append(await self._limiter.hit(key, rule.limit, rule.window_seconds))
        if not decisions:
            return
        refused = [d for d in decisions if not d.allowed]
        closest = max(refused, key=lambda d: d.reset_seconds) if refused else min(decisions, key=_exhaustion)
        request.state[STATE_KEY] = closest
        if refused:
            raise RateLimitExceeded(closest)


def _exhaustion(decision: RateLimitDecision) -> tuple[float, int]:
    return (decision.remaining / decision.limit, -decision.reset_seconds)


def _email_key(email: str | None) -> str | None:
    return email.strip().lower() if email else None


def headers_for(decision: RateLimitDecision) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(decision.limit),
        "RateLimit-Remaining": str(max(0, decision.remaining)),
        "RateLimit-Reset": str(decision.reset_seconds),
    }


async def add_rate_limit_headers(message: Message, scope: Scope) -> None:
    """`before_send` hook: put the decision a handler recorded into the response headers (errors too)."""
    if message["type"] != "http.response.start":
        return
    decision = scope.get("state", {}).get(STATE_KEY)
    if decision is None:
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in headers_for(decision).items():
        headers[name] = value
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after)
