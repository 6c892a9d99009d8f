"""POST /api/admin/users/{id}/grants on SQLite and PostgreSQL, with the quota ledger on Redis and two API
processes (two containers sharing the database and Redis): a grant raises the user's limit at once on both,
however recently a process cached the user's allowance, and it ends with its period."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from adapters.memory.clock import FrozenClock
from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from application.billing import topics
from application.identity.sign_in import SignInRequest
from application.shared.allowance import Allowance
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.support.app import PASSWORD, bearer, loop_client, verified_user_token

ROOT = "root@example.com"
ADA = "ada@example.com"
FREE_LIMIT = 10_000


@dataclass
class Api:
    """One API process."""

    container: Container
    client: httpx.AsyncClient


@dataclass
class Cluster:
    one: Api
    two: Api
    admin: dict[str, str]
    admin_id: str
    clock: FrozenClock

    async def grant(self, user_id: str, body: Any) -> httpx.Response:
        return await self.one.client.post(f"/api/admin/users/{user_id}/grants", json=body, headers=self.admin)


@pytest.fixture
async def cluster(tmp_path: Path, database_url: str, redis_url: str, redis_prefix: str) -> AsyncIterator[Cluster]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    settings = Settings(  # type: ignore[call-arg]
        var_dir=tmp_path,
        secret_key="k" * 48,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        rate_limit_enabled=False,
        _env_file=None,
    )
    async with AsyncExitStack() as stack:
        apis = []
        for _ in range(2):
            container = bootstrap(settings, mailer=InMemoryMailer(), hasher=Pbkdf2PasswordHasher(), clock=clock)
            stack.push_async_callback(container.aclose)
            apis.append(Api(container, await stack.enter_async_context(loop_client(container))))
        await apis[0].container.identity.create_admin(ROOT, PASSWORD)
        pair = await apis[0].container.identity.sign_in(SignInRequest(ROOT, PASSWORD))
        yield Cluster(apis[0], apis[1], bearer(pair.access_token), str(pair.user.id), clock)


async def _ada(cluster: Cluster) -> tuple[str, dict[str, str]]:
    token = await verified_user_token(cluster.two.container, ADA)
    me = (await cluster.two.client.get("/api/auth/me", headers=bearer(token))).json()
    return str(me["id"]), bearer(token)


async def _spend(api: Api, user_id: str, headers: dict[str, str], tokens: int) -> None:
    """Count `tokens` on the shared ledger as if replies had used them."""
    usage = (await api.client.get("/api/usage", headers=headers)).json()
    period = Allowance(
        "free", FREE_LIMIT, datetime.fromisoformat(usage["period_start"]), datetime.fromisoformat(usage["period_end"])
    )
    held = await api.container.ledger.reserve(UUID(user_id), period, tokens)
    await api.container.ledger.settle(held, tokens)


def _chat(api: Api, headers: dict[str, str]) -> Any:
    """A new question every time (an identical one would come from the response cache, costing no quota)."""
    body = {"content": f"Question {uuid4()}", "max_tokens": 2_000}
    return api.client.post("/api/chat", json=body, headers=headers)


async def _limits(cluster: Cluster, user_id: str, headers: dict[str, str]) -> tuple[int, ...]:
    found = []
    for api in (cluster.one, cluster.two):
        found.append((await api.client.get("/api/usage", headers=headers)).json()["limit"])
        found.append((await api.client.get("/api/billing/usage", headers=headers)).json()["token_quota"])
        detail = await api.client.get(f"/api/admin/users/{user_id}", headers=cluster.admin)
        found.append(detail.json()["usage"]["limit"])
    return tuple(found)


async def _signed_in(cluster: Cluster, email: str) -> dict[str, str]:
    return bearer((await cluster.one.container.identity.sign_in(SignInRequest(email, PASSWORD))).access_token)


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(slug)
    return body


async def test_a_grant_raises_the_limit_at_once_on_every_process(cluster: Cluster) -> None:
    ada_id, ada = await _ada(cluster)
    assert (await _chat(cluster.two, ada)).status_code == 200  # process two has the allowance cached now
    await _spend(cluster.two, ada_id, ada, 8_000)
    _problem(await _chat(cluster.two, ada), 402, "quota-exceeded")

    response = await cluster.grant(ada_id, {"tokens": 5_000, "reason": "Sorry about the outage"})

    assert response.status_code == 201, response.text
    grant = response.json()
    assert set(grant) == {"id", "user_id", "tokens", "reason", "granted_by", "period_end", "created_at"}
    assert (grant["user_id"], grant["tokens"], grant["granted_by"]) == (ada_id, 5_000, cluster.admin_id)
    assert grant["reason"] == "Sorry about the outage"
    usage = (await cluster.two.client.get("/api/usage", headers=ada)).json()
    assert grant["period_end"] == usage["period_end"]
    assert await _limits(cluster, ada_id, ada) == (FREE_LIMIT + 5_000,) * 6
    assert (await _chat(cluster.two, ada)).status_code == 200  # the very next chat, on the other process


async def test_a_grant_is_audit_logged_and_counted_once_when_its_job_runs_again(cluster: Cluster) -> None:
    ada_id, ada = await _ada(cluster)
    grant = (await cluster.grant(ada_id, {"tokens": 1_234, "reason": "Beta tester"})).json()

    async with cluster.one.container.uow_factory() as uow:
        jobs = [m for m in await uow.outbox.claim_unpublished(100) if m.topic == topics.GRANT]
    assert [job.payload for job in jobs] == [{"grant_id": grant["id"]}]
    assert await cluster.two.container.run_job(jobs[0].id) is True

    assert (await cluster.two.client.get("/api/usage", headers=ada)).json()["limit"] == FREE_LIMIT + 1_234
    audit = await cluster.one.client.get("/api/admin/audit", params={"action": "user.grant"}, headers=cluster.admin)
    [entry] = audit.json()["items"]
    assert (entry["actor_id"], entry["target_id"]) == (cluster.admin_id, ada_id)
    assert entry["details"] == {
        "grant_id": grant["id"], "tokens": 1_234, "reason": "Beta tester", "period_end": entry["details"]["period_end"]
    }  # fmt: skip


async def test_a_grant_ends_with_its_period(cluster: Cluster) -> None:
    ada_id, ada = await _ada(cluster)
    assert (await cluster.grant(ada_id, {"tokens": 5_000, "reason": "Launch week"})).status_code == 201
    assert (await cluster.two.client.get("/api/usage", headers=ada)).json()["limit"] == FREE_LIMIT + 5_000

    cluster.clock.advance(timedelta(days=32))  # the next period (the tokens of the last one expired too)
    cluster.admin = await _signed_in(cluster, ROOT)

    assert await _limits(cluster, ada_id, await _signed_in(cluster, ADA)) == (FREE_LIMIT,) * 6


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tokens": 0, "reason": "x"}, "tokens"),
        ({"tokens": 100_000_001, "reason": "x"}, "tokens"),
        ({"tokens": "many", "reason": "x"}, "tokens"),
        ({"tokens": 1.5, "reason": "x"}, "tokens"),
        ({"reason": "x"}, "tokens"),
        ({"tokens": 10, "reason": ""}, "reason"),
        ({"tokens": 10, "reason": "   "}, "reason"),
        ({"tokens": 10, "reason": "r" * 501}, "reason"),
        ({"tokens": 10, "reason": "a\u0000b"}, "reason"),
        ({"tokens": 10}, "reason"),
    ],
)
async def test_a_bad_grant_is_a_422_naming_the_field_and_changes_nothing(
    cluster: Cluster, body: dict[str, Any], field: str
) -> None:
    ada_id, ada = await _ada(cluster)

    problem = _problem(await cluster.grant(ada_id, body), 422, "validation-error")

    assert field in str(problem)
    assert (await cluster.two.client.get("/api/usage", headers=ada)).json()["limit"] == FREE_LIMIT
    audit = await cluster.one.client.get("/api/admin/audit", params={"action": "user.grant"}, headers=cluster.admin)
    assert audit.json()["items"] == []


async def test_the_edges_of_the_range_are_granted(cluster: Cluster) -> None:
    ada_id, _ = await _ada(cluster)
    assert (await cluster.grant(ada_id, {"tokens": 1, "reason": "r"})).status_code == 201
    assert (await cluster.grant(ada_id, {"tokens": 100_000_000, "reason": "r" * 500})).status_code == 201


async def test_only_admins_grant_and_only_to_someone(cluster: Cluster) -> None:
    ada_id, ada = await _ada(cluster)
    body = {"tokens": 10, "reason": "x"}

    _problem(await cluster.grant(str(UUID(int=7)), body), 404, "not-found")
    path = f"/api/admin/users/{ada_id}/grants"
    _problem(await cluster.one.client.post(path, json=body, headers=ada), 403, "forbidden")
    _problem(await cluster.one.client.post(path, json=body), 401, "invalid-token")
    assert (await cluster.two.client.get("/api/usage", headers=ada)).json()["limit"] == FREE_LIMIT
