"""WebSocket /api/analytics/live against a real server (uvicorn, in the test's event loop) on the in-memory
adapters: an admin's snapshots move with chats and sign-ups; anyone else is refused with HTTP 403 before the
upgrade; an admin disabled meanwhile is cut off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from adapters.memory.llm import Script, ScriptedProvider
from application.identity.sign_in import SignInRequest
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.model import Usage
from entrypoints.bootstrap import Container
from entrypoints.http.app import create_app
from tests.support.app import PASSWORD, bearer, memory_container, verified_user_token
from tests.support.served import served

ALL = frozenset({"free", "plus", "pro"})
SNAPSHOT_KEYS = {
    "type",
    "at",
    "active_streams",
    "messages_last_minute",
    "tokens_last_minute",
    "errors_last_minute",
    "signups_today",
}
WAIT_SECONDS = 10.0


@dataclass
class Live:
    url: str
    http: httpx.AsyncClient
    container: Container
    admin_token: str
    provider: ScriptedProvider

    def ws_url(self, **params: str) -> str:
        query = "&".join(f"{name}={value}" for name, value in params.items())
        return self.url.replace("http://", "ws://") + "/api/analytics/live" + (f"?{query}" if query else "")


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    provider = ScriptedProvider("acme")
    catalogue = ModelCatalogue([ModelSpec("m", (RouteStep("acme", "upstream"),), 8192, ALL)])
    container = memory_container(
        tmp_path,
        settings={"live_interval_seconds": 0.05, "rate_limit_enabled": False},
        providers={"acme": provider},
        catalogue=catalogue,
    )
    await container.identity.create_admin("root@example.com", PASSWORD)
    pair = await container.identity.sign_in(SignInRequest("root@example.com", PASSWORD))
    async with served(create_app(container)) as url, httpx.AsyncClient(base_url=url) as http:
        yield Live(url, http, container, pair.access_token, provider)


async def next_snapshot(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), WAIT_SECONDS))
    assert set(message) == SNAPSHOT_KEYS and message["type"] == "snapshot"
    return dict(message)


async def snapshot_where(ws: ClientConnection, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The first snapshot for which `condition` holds (they come every 50 ms here)."""
    while not condition(snapshot := await next_snapshot(ws)):
        pass
    return snapshot


async def test_an_admin_sees_the_counters_move_with_chats_and_signups(live: Live) -> None:
    user = bearer(await verified_user_token(live.container, "ada@example.com"))
    live.provider.then(Script(pieces=("Hello ", "there."), usage=Usage(30, 12)))
    async with connect(live.ws_url(), additional_headers=bearer(live.admin_token)) as ws:
        first = await next_snapshot(ws)
        assert first["at"].endswith("Z")  # UTC, ISO 8601
        assert (first["active_streams"], first["messages_last_minute"], first["tokens_last_minute"]) == (0, 0, 0)
        assert (first["errors_last_minute"], first["signups_today"]) == (0, 1)  # ada signed up

        chat = await live.http.post("/api/chat", json={"content": "hi", "model": "m"}, headers=user)
        assert chat.status_code == 200
        after_chat = await snapshot_where(ws, lambda s: s["messages_last_minute"] == 1)
        assert after_chat["tokens_last_minute"] == 42

        signup = await live.http.post("/api/auth/signup", json={"email": "bob@example.com", "password": PASSWORD})
        assert signup.status_code == 202
        await snapshot_where(ws, lambda s: s["signups_today"] == 2)
        again = await live.http.post("/api/auth/signup", json={"email": "bob@example.com", "password": PASSWORD})
        assert again.status_code == 202  # a taken address: the same answer, but no new account
        assert (await next_snapshot(ws))["signups_today"] == 2


async def test_an_open_stream_counts_until_it_ends_and_a_failing_provider_counts_as_an_error(live: Live) -> None:
    user = bearer(await verified_user_token(live.container, "ada@example.com"))
    gate = asyncio.Event()
    live.provider.then(Script(pieces=("One ", "two."), usage=Usage(5, 2), gate=gate), Script(fail_after=1))
    async with connect(live.ws_url(token=live.admin_token)) as ws:
        streaming = asyncio.create_task(
            live.http.post("/api/chat", json={"content": "hold", "model": "m", "stream": True}, headers=user)
        )
        await snapshot_where(ws, lambda s: s["active_streams"] == 1)
        gate.set()
        assert (await streaming).status_code == 200
        ended = await snapshot_where(ws, lambda s: s["active_streams"] == 0)
        assert (ended["messages_last_minute"], ended["tokens_last_minute"]) == (1, 7)

        failed = await live.http.post("/api/chat", json={"content": "fail", "model": "m"}, headers=user)
        assert failed.status_code == 503
        broken = await snapshot_where(ws, lambda s: s["errors_last_minute"] == 1)
        assert broken["active_streams"] == 0


@pytest.mark.parametrize("where", ["header", "query"])
async def test_a_non_admin_is_refused_before_the_upgrade(live: Live, where: str) -> None:
    token = await verified_user_token(live.container, "ada@example.com")
    url, headers = (live.ws_url(), bearer(token)) if where == "header" else (live.ws_url(token=token), {})

    with pytest.raises(InvalidStatus) as refused:
        await connect(url, additional_headers=headers)

    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    ("url_params", "headers"),
    [
        ({}, {}),
        ({"token": "not-a-token"}, {}),
        ({}, {"Authorization": "Bearer not-a-token"}),
        ({}, {"Authorization": "Basic cm9vdDpwYXNzd29yZA=="}),
    ],
    ids=["missing", "bad-query-token", "bad-header-token", "not-bearer"],
)
async def test_a_missing_or_bad_token_is_refused_before_the_upgrade(
    live: Live, url_params: dict[str, str], headers: dict[str, str]
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(live.ws_url(**url_params), additional_headers=headers)

    assert refused.value.response.status_code == 403


async def test_an_admin_api_key_connects(live: Live) -> None:
    created = await live.http.post("/api/keys", json={"name": "dashboard"}, headers=bearer(live.admin_token))
    assert created.status_code == 201, created.text

    async with connect(live.ws_url(token=created.json()["key"])) as ws:
        assert (await next_snapshot(ws))["type"] == "snapshot"


async def test_an_admin_disabled_meanwhile_is_cut_off_with_4403(live: Live) -> None:
    await live.container.identity.create_admin("second@example.com", PASSWORD)
    other = await live.container.identity.sign_in(SignInRequest("second@example.com", PASSWORD))
    root_id = (await live.http.get("/api/auth/me", headers=bearer(live.admin_token))).json()["id"]
    async with connect(live.ws_url(), additional_headers=bearer(live.admin_token)) as ws:
        await next_snapshot(ws)

        disabled = await live.http.patch(
            f"/api/admin/users/{root_id}", json={"disabled": True}, headers=bearer(other.access_token)
        )
        assert disabled.status_code == 200

        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await next_snapshot(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
