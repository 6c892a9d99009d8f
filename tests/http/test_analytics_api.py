"""/api/analytics in process on SQLite and PostgreSQL: every route answers an admin with the numbers of the
facts recorded (worked out by hand below), a user 403, no token 401, a bad parameter 422 naming it, and
`as_of` (null on an empty store)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.memory.clock import FrozenClock
from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from application.identity.sign_in import SignInRequest
from application.shared.facts import Fact, FactKind
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.support.app import PASSWORD, app_client, bearer, verified_user_token

ROOT = "root@example.com"
ADA, BOB, CY = UUID(int=1), UUID(int=2), UUID(int=3)
MARCH = {"from": "2026-03-02", "to": "2026-03-15"}  # two whole ISO weeks, Monday 2 to Sunday 15


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def reply(day: int, user: UUID, **data: Any) -> Fact:
    fields = {
        "plan": "plus",
        "model": "gpt",
        "provider": "openai",
        "prompt_tokens": 10,
        "completion_tokens": 40,
        "cost_micros": 25_000,
        "latency_ms": 1000,
        "ttft_ms": 200,
        "failovers": 0,
        "cached": False,
        "finish_reason": "stop",
        "error": None,
    }
    return Fact(kind=FactKind.MESSAGE_REPLIED, occurred_at=at(day), user_id=user, data={**fields, **data})


def subscription(kind: FactKind, day: int, user: UUID, **data: Any) -> Fact:
    fields = {
        "subscription_id": f"sub-{user.int}",
        "plan": "plus",
        "price_cents": 2000,
        "currency": "usd",
        "status": "active",
    }
    return Fact(kind=kind, occurred_at=at(day), user_id=user, data={**fields, **data})


def payment(kind: FactKind, day: int, user: UUID, cents: int, plan: str = "plus") -> Fact:
    data = {"payment_id": f"pay-{day}-{user.int}", "amount_cents": cents, "currency": "usd", "plan": plan}
    return Fact(kind=kind, occurred_at=at(day), user_id=user, data=data)


FACTS = [
    Fact(kind=FactKind.USER_SIGNED_UP, occurred_at=at(1), user_id=ADA),  # before the range
    Fact(kind=FactKind.USER_SIGNED_UP, occurred_at=at(3), user_id=BOB),
    Fact(kind=FactKind.USER_VERIFIED, occurred_at=at(3, 13), user_id=BOB),
    Fact(kind=FactKind.USER_SIGNED_UP, occurred_at=at(10), user_id=CY),
    reply(3, BOB),
    reply(4, BOB, provider="anthropic", model="claude", latency_ms=3000, ttft_ms=1000, failovers=1),
    reply(10, BOB, cached=True, cost_micros=0),
    reply(10, CY, plan="free", error="provider-unavailable", finish_reason="error", completion_tokens=0),
    subscription(FactKind.SUBSCRIPTION_STARTED, 1, ADA),
    payment(FactKind.PAYMENT_SUCCEEDED, 1, ADA, 2000),
    subscription(FactKind.SUBSCRIPTION_STARTED, 3, BOB, plan="pro", price_cents=5000),
    payment(FactKind.PAYMENT_SUCCEEDED, 3, BOB, 5000, "pro"),
    payment(FactKind.PAYMENT_REFUNDED, 5, BOB, 1000, "pro"),
    payment(FactKind.PAYMENT_FAILED, 6, ADA, 2000),
    subscription(FactKind.SUBSCRIPTION_CANCELED, 12, ADA, status="canceled"),
]


@dataclass
class Api:
    client: httpx.AsyncClient
    container: Container
    """The app's container (it runs on the client's loop)."""
    writer: Container
    """Over the same database, on the test's loop: signs users up and records facts."""
    headers: dict[str, str]

    async def get(self, route: str, **params: str) -> httpx.Response:
        return await self.client.get(f"/api/analytics/{route}", params=params, headers=self.headers)

    async def ok(self, route: str, **params: str) -> dict[str, Any]:
        response = await self.get(route, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def record(self, *facts: Fact) -> None:
        async with self.writer.uow_factory() as uow:
            for fact in facts:
                await uow.facts.record(fact)
            await uow.commit()


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(  # type: ignore[call-arg]
        var_dir=tmp_path,
        secret_key="k" * 48,
        database_url=database_url,
        analytics_tail_cache_seconds=0,  # the warehouse reads the database afresh: only the answer cache caches
        _env_file=None,
    )
    writer = bootstrap(settings, mailer=InMemoryMailer(), hasher=Pbkdf2PasswordHasher())
    await writer.identity.create_admin(ROOT, PASSWORD)
    pair = await writer.identity.sign_in(SignInRequest(ROOT, PASSWORD))
    async with writer.uow_factory() as uow:  # the admin's own sign-up and sign-in facts: each test starts empty
        await uow.facts.delete_before(datetime.now(UTC) + timedelta(days=1))
        await uow.commit()
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    container = bootstrap(settings, mailer=InMemoryMailer(), hasher=Pbkdf2PasswordHasher(), clock=clock)
    async with app_client(container) as client:  # the app runs on the client's loop, the writer on the test's
        yield Api(client, container, writer, bearer(pair.access_token))
    await writer.aclose()


ROUTES = [
    "users/count",
    "users/growth",
    "users/active",
    "users/retention",
    "chat/messages",
    "chat/by-provider",
    "revenue/total",
    "revenue/mrr",
    "revenue/margin",
    "providers/usage",
    "providers/performance",
]
SERIES = [
    "users/growth",
    "users/active",
    "chat/messages",
    "chat/by-provider",
    "revenue/total",
    "revenue/mrr",
    "revenue/margin",
]


@pytest.mark.parametrize("route", ROUTES)
async def test_every_route_answers_an_admin_with_as_of_null_on_an_empty_store(api: Api, route: str) -> None:
    body = await api.ok(route)

    today = api.container.clock.now().date()
    assert body["as_of"] is None
    assert (body["from"], body["to"]) == (str(today - timedelta(days=29)), str(today))
    if route in SERIES:
        assert body["interval"] == "day"
        assert [point["start"] for point in body["points"]] == [
            str(today - timedelta(days=n)) for n in range(29, -1, -1)
        ]


async def test_users_need_an_admin_token(api: Api) -> None:
    token = await verified_user_token(api.writer, "ada@example.com")
    for route in ROUTES:
        user = await api.client.get(f"/api/analytics/{route}", headers=bearer(token))
        anonymous = await api.client.get(f"/api/analytics/{route}", params={"from": "nonsense"})
        assert user.status_code == 403 and user.json()["type"].endswith("forbidden"), route
        assert anonymous.status_code == 401, route


async def test_the_openapi_document_lists_each_routes_query_parameters(api: Api) -> None:
    paths = (await api.client.get("/schema/openapi.json")).json()["paths"]
    for route in ROUTES:
        parameters = paths[f"/api/analytics/{route}"]["get"]["parameters"]
        documented = {p["name"] for p in parameters if p["in"] == "query" and p.get("description")}
        assert documented == ({"from", "to", "interval"} if route in SERIES else {"from", "to"}), route


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-02-30"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-3-1"}, "to"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "from"),
        ({"from": "2023-01-01", "to": "2026-01-01"}, "from"),
        ({"interval": "hour"}, "interval"),
    ],
)
async def test_a_bad_parameter_is_a_422_naming_it(api: Api, params: dict[str, str], field: str) -> None:
    for route in SERIES if field == "interval" else ROUTES:
        response = await api.get(route, **params)
        assert response.status_code == 422, (route, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_the_users_routes(api: Api) -> None:
    await api.record(*FACTS)

    count = await api.ok("users/count", **MARCH)
    growth = await api.ok("users/growth", **MARCH, interval="week")
    active = await api.ok("users/active", **MARCH, interval="week")
    retention = await api.ok("users/retention", **MARCH)

    assert count["as_of"] == "2026-03-12T12:00:00Z"
    assert (count["total"], count["new"], count["verified"]) == (3, 2, 1)
    assert [(p["start"], p["signups"], p["total"]) for p in growth["points"]] == [
        ("2026-03-02", 1, 2),
        ("2026-03-09", 1, 3),
    ]
    # Week 1: Bob on the 3rd and 4th. Week 2: Bob and Cy on the 10th, so the 15th's week has both, its day none.
    assert [(p["active"], p["dau"], p["wau"], p["mau"]) for p in active["points"]] == [(1, 0, 1, 1), (2, 0, 2, 2)]
    assert [(c["start"], c["size"]) for c in retention["cohorts"]] == [("2026-03-02", 1), ("2026-03-09", 1)]
    bob, cy = retention["cohorts"]
    assert [(w["week"], w["active"], w["rate"]) for w in bob["weeks"]] == [(0, 1, 1.0), (1, 1, 1.0)]
    assert [(w["week"], w["active"], w["rate"]) for w in cy["weeks"]] == [(0, 1, 1.0)]


async def test_the_chat_routes(api: Api) -> None:
    await api.record(*FACTS)

    messages = await api.ok("chat/messages", **MARCH, interval="week")
    by_provider = await api.ok("chat/by-provider", **MARCH, interval="week")

    assert [
        (p["messages"], p["users"], p["prompt_tokens"], p["completion_tokens"], p["cached"], p["errors"])
        for p in messages["points"]
    ] == [(2, 1, 20, 80, 0, 0), (2, 2, 20, 40, 1, 1)]
    assert by_provider["providers"] == ["anthropic", "openai"]
    assert [
        [(c["provider"], c["messages"], c["cached"], c["tokens"]) for c in p["providers"]]
        for p in by_provider["points"]
    ] == [
        [("anthropic", 1, 0, 50), ("openai", 1, 0, 50)],
        [("anthropic", 0, 0, 0), ("openai", 2, 1, 60)],
    ]


async def test_the_revenue_routes(api: Api) -> None:
    await api.record(*FACTS)

    total = await api.ok("revenue/total", **MARCH, interval="week")
    mrr = await api.ok("revenue/mrr", **MARCH, interval="week")
    margin = await api.ok("revenue/margin", **MARCH, interval="week")

    # Bob paid 5,000 and got 1,000 back in week 1; Ada's payment of the 1st is before the range.
    assert total["totals"] == {
        "succeeded_cents": 5000,
        "refunded_cents": 1000,
        "revenue_cents": 4000,
        "payments": 1,
        "refunds": 1,
        "failed": 1,
    }
    assert [p["revenue_cents"] for p in total["points"]] == [4000, 0]
    # Week 1 starts with Ada (2,000) paying and ends with Ada and Bob (7,000); Ada cancels in week 2.
    assert [
        (p["mrr_cents"], p["paying_users"], p["arpu_cents"], p["churned_users"], p["churn"]) for p in mrr["points"]
    ] == [(7000, 2, 3500, 0, 0.0), (5000, 1, 5000, 1, 0.5)]
    # The 30 days before March 16: Ada was not yet paying on Feb 14, so nobody who paid then left: no LTV.
    assert [p["ltv_cents"] for p in mrr["points"]] == [None, None]
    # Costs: week 1, two plus replies of 25,000 micros (5 cents); week 2, one cached plus reply (0) and
    # one free reply of 25,000 micros (2.5 cents, rounded half up to 3).
    assert [(p["revenue_cents"], p["cost_cents"], p["margin_cents"]) for p in margin["points"]] == [
        (4000, 5, 3995),
        (0, 3, -3),
    ]
    assert [(p["plan"], p["revenue_cents"], p["cost_cents"]) for p in margin["totals"]["plans"]] == [
        ("free", 0, 3),
        ("plus", 0, 5),
        ("pro", 4000, 0),
    ]
    assert margin["totals"]["margin_cents"] == 3992


async def test_the_provider_routes(api: Api) -> None:
    await api.record(*FACTS)

    usage = await api.ok("providers/usage", **MARCH)
    performance = await api.ok("providers/performance", **MARCH)

    # The cached reply is no provider request.
    assert [
        (i["provider"], i["model"], i["requests"], i["total_tokens"], i["cost_micros"], i["cost_cents"])
        for i in usage["items"]
    ] == [("anthropic", "claude", 1, 50, 25000, 3), ("openai", "gpt", 2, 60, 50000, 5)]
    anthropic, openai = performance["items"]
    assert (anthropic["latency_p50_ms"], anthropic["ttft_p95_ms"], anthropic["failovers"]) == (3000.0, 1000.0, 1)
    assert anthropic["tokens_per_second"] == 20.0  # 40 tokens in 3,000 - 1,000 ms
    # openai: one reply that went well (1,000 ms, 40 tokens after 200 ms) and one that failed.
    assert (openai["requests"], openai["errors"], openai["error_rate"]) == (2, 1, 0.5)
    assert (openai["latency_p50_ms"], openai["tokens_per_second"]) == (1000.0, 50.0)


async def test_an_answer_is_served_from_the_cache_for_a_while(api: Api) -> None:
    await api.record(*FACTS[:2])
    first = await api.ok("users/count", **MARCH)
    await api.record(FACTS[3])

    again = await api.ok("users/count", **MARCH)
    other_range = await api.ok("users/count", **{**MARCH, "to": "2026-03-14"})

    assert first == again and first["total"] == 2
    assert other_range["total"] == 3
