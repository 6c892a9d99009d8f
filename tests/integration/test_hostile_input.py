"""Bodies built to hurt, on every JSON route: nested far deeper than any route reads, cut short, not an object,
or carrying text that is not text (a NUL character, a lone surrogate). Each is a client error answered before a
use case runs, the same on SQLite and PostgreSQL, with nothing stored and no traceback logged."""

from __future__ import annotations

import json
import logging
import timeit
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from adapters.sql.engine import create_engine
from adapters.sql.tables import metadata
from entrypoints.bootstrap import bootstrap
from entrypoints.http.json_input import MAX_DEPTH, bad_text_at, decode_body, nesting_depth_exceeds
from entrypoints.settings import Settings
from tests.support.app import PASSWORD, app_client, bearer, memory_container, verified_user_token

NEW = "newcomer@example.com"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any]
    """A valid body; the field named `field` gets the hostile text."""
    field: str
    authed: bool = False

    @property
    def v1(self) -> bool:
        return self.path.startswith("/v1/")


ROUTES = [
    Route("POST", "/api/auth/signup", {"email": NEW, "password": PASSWORD}, "email"),
    Route("POST", "/api/auth/signup", {"email": NEW, "password": PASSWORD, "name": "Ada"}, "name"),
    Route("POST", "/api/auth/signin", {"email": "ada@example.com", "password": PASSWORD}, "email"),
    Route("POST", "/api/auth/refresh", {"refresh_token": "token"}, "refresh_token"),
    Route("POST", "/api/auth/verify-email", {"token": "token"}, "token"),
    Route("POST", "/api/auth/resend-verification", {"email": "ada@example.com"}, "email"),
    Route("POST", "/api/auth/forgot-password", {"email": "ada@example.com"}, "email"),
    Route("POST", "/api/auth/reset-password", {"token": "token", "password": PASSWORD}, "token"),
    Route("POST", "/api/keys", {"name": "laptop"}, "name", authed=True),
    Route("POST", "/api/chat", {"content": "Hello there"}, "content", authed=True),
    Route("POST", "/api/chat", {"content": "Hello there", "system": "Be brief."}, "system", authed=True),
    Route("POST", "/api/billing/subscribe", {"plan": "plus"}, "plan", authed=True),
    Route("POST", "/api/billing/subscribe", {"plan": "plus", "payment_method_id": "pm_1"}, "payment_method_id", True),
    Route(
        "POST",
        "/v1/chat/completions",
        {"model": "parley-demo", "messages": [{"role": "user", "content": "Hello there"}]},
        "messages[0].content",
        authed=True,
    ),
]
HOSTILE_TEXT = {"nul": "\\u0000", "lone-surrogate": "\\ud800"}
"""As they appear in the JSON text (escaped: a raw NUL byte is not JSON at all)."""


def with_hostile_text(route: Route, escape: str) -> bytes:
    """The route's body as JSON text, with `escape` inside the value of its field."""
    body = json.loads(json.dumps(route.body))
    holder, key = body, route.field
    if route.field == "messages[0].content":
        holder, key = body["messages"][0], "content"
    holder[key] = f"{holder[key]}<HOSTILE>"
    return json.dumps(body).replace("<HOSTILE>", escape).encode()


@dataclass
class Api:
    client: httpx.AsyncClient
    headers: dict[str, str]

    async def send(self, route: Route, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json", **(self.headers if route.authed else {})}
        return await self.client.request(route.method, route.path, content=body, headers=headers)


@pytest.fixture
async def sql_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sql_api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    """The app on the SQL unit of work (SQLite, then PostgreSQL: bootstrap builds it from the URL, as in
    production), with a user signed in."""
    settings = Settings(  # type: ignore[call-arg]
        var_dir=tmp_path,
        secret_key="k" * 48,
        database_url=database_url,
        rate_limit_enabled=False,
        require_verified_email=False,
        demo_delay_ms=0,
        _env_file=None,
    )
    container = bootstrap(settings, mailer=InMemoryMailer(), hasher=Pbkdf2PasswordHasher())
    async with app_client(container) as client:  # the app runs on the client's loop: everything goes through it
        account = {"email": "ada@example.com", "password": PASSWORD}
        assert (await client.post("/api/auth/signup", json=account)).status_code == 202
        signed_in = await client.post("/api/auth/signin", json=account)
        yield Api(client, bearer(signed_in.json()["access_token"]))


@pytest.fixture
async def memory_api(tmp_path: Path) -> AsyncIterator[Api]:
    container = memory_container(tmp_path, settings={"rate_limit_enabled": False, "demo_delay_ms": 0})
    async with app_client(container) as client:
        token = await verified_user_token(container, "ada@example.com")
        yield Api(client, bearer(token))


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return {
            table.name: (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            for table in metadata.sorted_tables
        }


@pytest.mark.parametrize("kind", HOSTILE_TEXT)
async def test_text_that_is_not_text_is_refused_naming_the_field_and_nothing_is_stored(
    sql_api: Api, sql_engine: AsyncEngine, kind: str
) -> None:
    """PostgreSQL cannot store a NUL (it answered 503), SQLite stored it as sent: the answer must not depend on
    the database. A lone surrogate cannot be encoded at all."""
    before = await row_counts(sql_engine)
    answers = {}
    for route in ROUTES:
        response = await sql_api.send(route, with_hostile_text(route, HOSTILE_TEXT[kind]))
        if route.v1:
            error = response.json()["error"]
            answers[route.path, route.field] = (response.status_code, error["type"], error["param"])
        else:
            body = response.json()
            assert response.headers["content-type"].startswith("application/problem+json")
            answers[route.path, route.field] = (response.status_code, body["type"], body["errors"][0]["field"])

    assert answers == {
        (route.path, route.field): (400, "invalid_request_error", route.field)
        if route.v1
        else (422, "validation-error", route.field)
        for route in ROUTES
    }
    assert await row_counts(sql_engine) == before


async def test_the_same_bodies_without_the_hostile_text_are_accepted(sql_api: Api) -> None:
    """The check refuses the character, not the route: the clean bodies get past it."""
    for route in ROUTES:
        response = await sql_api.send(route, with_hostile_text(route, ""))
        assert response.status_code < 500, (route, response.text)
        body = response.json()
        refused = body.get("error", {}).get("param") if route.v1 else body.get("errors", [{}])[0].get("field")
        assert refused != route.field, (route, response.text)  # an unknown token may be refused, not the text


DEEP = b'{"email": ' + b"[" * 1000 + b"]" * 1000 + b"}"
MALFORMED = {
    "nested-1000-levels": (DEEP, "json-too-deep"),
    "nested-65-levels": (b'{"a": ' + b'{"a": ' * 64 + b"1" + b"}" * 65, "json-too-deep"),
    "truncated": (b'{"email": "ada@exam', "invalid-json"),
    "array": (b"[1, 2]", "not-an-object"),
    "string": (b'"hello"', "not-an-object"),
}


@pytest.mark.parametrize("name", MALFORMED)
async def test_bodies_too_deep_or_not_a_json_object_are_400_on_every_route(
    memory_api: Api, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, slug = MALFORMED[name]
    caplog.set_level(logging.INFO)
    for route in ROUTES:
        response = await memory_api.send(route, body)
        assert response.status_code == 400, (route, response.text)
        if route.v1:
            error = response.json()["error"]
            assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, slug)
            assert error["message"]
        else:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["type"] == slug
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.ERROR]


async def test_nesting_up_to_the_limit_is_read_as_usual(memory_api: Api) -> None:
    """64 levels is allowed (the routes read 4 at most): the body gets to the route, which validates it."""
    nested: Any = "x"
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    route = ROUTES[2]  # signin
    response = await memory_api.send(route, json.dumps({"email": nested, "password": PASSWORD}).encode())
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "email"


def test_the_depth_scan_reads_brackets_in_strings_and_escapes_as_text() -> None:
    brackets_in_text = json.dumps({"content": "[" * 500 + '\\"[' * 100}).encode()
    assert not nesting_depth_exceeds(brackets_in_text)
    assert decode_body(brackets_in_text)["content"].startswith("[[[")
    escaped_backslash_then_deep = b'["\\\\",' + b"[" * 70 + b"]" * 70 + b"]"
    assert nesting_depth_exceeds(escaped_backslash_then_deep)
    assert not nesting_depth_exceeds(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH)
    assert nesting_depth_exceeds(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))
    assert nesting_depth_exceeds(b"[[]" * 70)  # deep without 65 opening brackets in a row


def test_the_body_checks_stay_cheap_on_a_32_kb_message() -> None:
    """They run on every chat request. On a 32 KB message the depth scan and the text check cost a few
    microseconds for prose, and some 50-150 for text dense in brackets and quotes (code): a loop in Python
    over the bytes would cost milliseconds."""
    prose = ("It was the best of times, it was the worst of times; it was the age of wisdom.\n" * 400)[:32_000]
    dense = ('He said: "look [here] and {there}", then left.\n' * 700)[:32_000]
    code = ('def f(x):\n    return {"k": [x[0], x[1]], "s": "\\\\"}\n' * 700)[:32_000]
    for text, budget in ((prose, 0.000_1), (dense, 0.000_5), (code, 0.000_5)):
        body = msgspec.json.encode({"model": "m", "messages": [{"role": "user", "content": text}], "stream": True})
        scan = min(timeit.repeat(partial(nesting_depth_exceeds, body), number=100, repeat=5)) / 100
        decoded = msgspec.json.decode(body)
        walk = min(timeit.repeat(partial(bad_text_at, decoded), number=100, repeat=5)) / 100
        assert scan + walk < budget, (scan, walk, text[:20])


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
async def test_numbers_that_are_not_finite_are_refused_naming_the_field(memory_api: Api, number: str) -> None:
    """Out of a 64-bit float's range (1e400), or not JSON numbers at all but what JavaScript writes (NaN)."""
    chat = Route("POST", "/api/chat", {}, "temperature", authed=True)
    response = await memory_api.send(chat, f'{{"content": "hi", "temperature": {number}}}'.encode())
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "temperature"

    v1 = ROUTES[-1]
    body = f'{{"model": "parley-demo", "messages": [{{"role": "user", "content": "hi"}}], "max_tokens": {number}}}'
    response = await memory_api.send(v1, body.encode())
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_tokens"
