"""The HTTP edge as a client sees it when things go wrong: every error is problem+json, nothing of a stack
trace leaks, a dependency outage is 503 and a bug 500 (with its traceback in the log), bodies over the cap are
413, and OpenAPI documents the errors."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import traceback
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from adapters.redis.client import create_redis
from adapters.redis.rate_limiter import RedisRateLimiter
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.http.problems import is_outage
from entrypoints.settings import Settings
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


def sql_container(tmp_path: Path, database_url: str) -> Container:
    """The app's container on a real database, built from its URL as in production."""
    settings = Settings(var_dir=tmp_path, secret_key="k" * 48, database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    return bootstrap(settings, mailer=InMemoryMailer(), hasher=Pbkdf2PasswordHasher())


async def test_a_database_error_that_is_a_bug_is_a_500_logged_with_its_traceback_and_request_id(
    tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A table missing from the schema (an OperationalError "no such table", which answered 503) is not an
    outage that passes if the client tries again shortly: it is Parley's fault. (PostgreSQL's errors of the
    kind are classified below.)"""
    database_url = sqlite_url
    caplog.set_level(logging.ERROR, logger="parley.http")
    await _rename_table(database_url, "users", "users_elsewhere")
    try:
        async with app_client(sql_container(tmp_path, database_url)) as client:
            response = await client.post(
                "/api/auth/signin",
                json={"email": "a@example.com", "password": PASSWORD},
                headers={"X-Request-ID": "bug-report-42"},
            )
    finally:
        await _rename_table(database_url, "users_elsewhere", "users")
    assert response.status_code == 500 and response.json()["type"].endswith("internal-error")
    assert "Traceback" not in response.text and "users" not in response.text
    [logged] = [record for record in caplog.records if record.getMessage() == "http.unhandled_error"]
    assert logged.exc_info is not None and logged.exc_info[1] is not None
    assert not is_outage(logged.exc_info[1])
    assert getattr(logged, "request_id", None) == "bug-report-42"
    logged_text = "".join(traceback.format_exception(logged.exc_info[1]))
    assert "a@example.com" not in logged_text  # a statement's parameters (addresses, hashes) never reach the log


async def _rename_table(url: str, name: str, new_name: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"ALTER TABLE {name} RENAME TO {new_name}"))
    finally:
        await engine.dispose()


async def test_a_database_refusing_connections_is_a_503(tmp_path: Path) -> None:
    nothing_listens = "postgresql+asyncpg://postgres@127.0.0.1:1/parley"
    async with app_client(sql_container(tmp_path, nothing_listens)) as client:
        response = await client.post("/api/auth/signin", json={"email": "a@example.com", "password": PASSWORD})
    assert response.status_code == 503 and response.json()["type"].endswith("service-unavailable")


@pytest.mark.postgres
async def test_a_database_out_of_connections_is_a_503(tmp_path: Path, postgres_url: str) -> None:
    """PostgreSQL's "too many connections" (here for a role allowed none) passes once connections free up."""
    role = f"parley_full_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
        url = postgres_url.replace("postgres@", f"{role}@")
        async with app_client(sql_container(tmp_path, url)) as client:
            response = await client.post("/api/auth/signin", json={"email": "a@example.com", "password": PASSWORD})
        assert response.status_code == 503 and response.json()["type"].endswith("service-unavailable")
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()


async def test_what_is_an_outage_and_what_is_a_bug(database_url: str, sqlite_url: str) -> None:
    """Real errors of the databases and the pool: a pool with no connection to give in time and a SQLite file
    another process holds locked are outages (503); a constraint the statement breaks is a bug (500)."""
    path = sqlite_url.removeprefix("sqlite+aiosqlite:///")
    holder, other = sqlite3.connect(path, isolation_level=None), sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    with pytest.raises(sqlite3.OperationalError) as locked:
        other.execute("INSERT INTO outbox DEFAULT VALUES")
    holder.close()
    other.close()
    assert is_outage(locked.value)

    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.05)
    try:
        async with engine.connect() as held:
            with pytest.raises(SqlTimeoutError) as pool_timeout:
                async with engine.connect():
                    pass
            await held.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await held.execute(text("INSERT INTO t VALUES (1)"))
            with pytest.raises(IntegrityError) as duplicate:
                await held.execute(text("INSERT INTO t VALUES (1)"))
            await held.rollback()
            with pytest.raises(DBAPIError) as missing_table:  # ProgrammingError, or SQLite's OperationalError
                await held.execute(text("SELECT * FROM no_such_table"))
            await held.rollback()
            with pytest.raises(DBAPIError) as bad_sql:
                await held.execute(text("SELEKT 1"))
    finally:
        await engine.dispose()
    assert is_outage(pool_timeout.value)
    assert not is_outage(duplicate.value)
    assert not is_outage(missing_table.value)
    assert not is_outage(bad_sql.value)
