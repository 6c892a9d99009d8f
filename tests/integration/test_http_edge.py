"""The HTTP edge as a client sees it when things go wrong: every error is problem+json, nothing of a stack
trace leaks, a dependency outage is 503, bodies over the cap are 413, and OpenAPI documents the errors."""

from __future__ import annotations

from pathlib import Path

from adapters.redis.client import create_redis
from adapters.redis.rate_limiter import RedisRateLimiter
from tests.support.app import app_client, memory_container

PASSWORD = "correct horse battery staple"


class ExplodingUnitOfWork:
    async def __aenter__(self) -> ExplodingUnitOfWork:
        raise RuntimeError("secret internals: /srv/parley/db.py line 42")

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_an_unexpected_error_is_a_500_problem_without_internals(tmp_path: Path) -> None:
    container = memory_container(tmp_path, uow_factory=ExplodingUnitOfWork)
    async with app_client(container) as client:
        response = await client.post("/api/auth/signin", json={"email": "a@example.com", "password": PASSWORD})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("internal-error") and body["status"] == 500
    assert "secret internals" not in response.text and "Traceback" not in response.text


async def test_redis_down_is_a_503_not_an_unlimited_request(tmp_path: Path) -> None:
    dead = create_redis("redis://127.0.0.1:1/0")
    container = memory_container(tmp_path, rate_limiter=RedisRateLimiter(dead))
    async with app_client(container) as client:
        response = await client.post("/api/auth/signup", json={"email": "a@example.com", "password": PASSWORD})
    assert response.status_code == 503 and response.json()["type"].endswith("service-unavailable")
    async with container.uow_factory() as uow:
        assert await uow.users.get_by_email("a@example.com") is None  # nothing was done
    await dead.aclose()


async def test_bodies_over_the_cap_are_413(tmp_path: Path) -> None:
    container = memory_container(tmp_path, settings={"max_body_bytes": 1024})
    async with app_client(container) as client:
        body = {"email": "a@example.com", "password": "p" * 2000}
        response = await client.post("/api/auth/signup", json=body)
    assert response.status_code == 413 and response.json()["type"].endswith("payload-too-large")


async def test_rate_limits_can_be_switched_off(tmp_path: Path) -> None:
    container = memory_container(tmp_path, settings={"rate_limit_enabled": False})
    async with app_client(container) as client:
        statuses = {
            (await client.post("/api/auth/forgot-password", json={"email": "x@example.com"})).status_code
            for _ in range(5)
        }
        response = await client.post("/api/auth/forgot-password", json={"email": "x@example.com"})
    assert statuses == {202} and "RateLimit-Limit" not in response.headers


async def test_openapi_documents_every_route_with_its_errors(tmp_path: Path) -> None:
    container = memory_container(tmp_path)
    async with app_client(container) as client:
        spec = (await client.get("/schema/openapi.json")).json()
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()]
    assert {path for path, _, _ in operations} >= {
        "/api/auth/signup",
        "/api/auth/signin",
        "/api/auth/refresh",
        "/api/auth/signout",
        "/api/auth/me",
        "/api/auth/verify-email",
        "/api/auth/resend-verification",
        "/api/auth/forgot-password",
        "/api/auth/reset-password",
        "/api/keys",
        "/api/keys/{key_id}",
    }
    for path, method, operation in operations:
        errors = {code for code in operation["responses"] if code.startswith(("4", "5"))}
        assert errors, f"{method.upper()} {path} documents no error response"
        media = "application/json" if path.startswith("/v1/") else "application/problem+json"  # OpenAI's bodies
        for code in errors:
            content = operation["responses"][code].get("content", {})
            assert media in content, f"{method.upper()} {path} {code}"
