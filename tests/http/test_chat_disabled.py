"""Disabling an account ends its open chat streams: two API processes (two containers sharing the database and
Redis), a reply streaming slowly on one, the admin disabling the user on the other. The stream ends with an
`account-disabled` error event within the check interval, and what was produced is kept and charged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from application.identity.sign_in import SignInRequest
from domain.conversation.model import Usage
from domain.conversation.ports import CompletionRequest, StreamEvent, TextDelta, UsageReport
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.http.test_chat_api import parse_sse
from tests.support.app import PASSWORD, bearer, loop_client, verified_user_token

PIECES = 2_000


class SlowProvider:
    """Writes one piece, says so, waits until told to go on, then writes a piece every 10 ms (20 s in all)."""

    name = "demo"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()
        self.pieces = 0

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamEvent]:
        for index in range(PIECES):
            yield TextDelta(f"word{index} ")
            self.pieces += 1
            if index == 0:
                self.started.set()
                await self.go_on.wait()
            else:
                await asyncio.sleep(0.01)
        yield UsageReport(Usage(10, PIECES))


@pytest.fixture
async def apis(
    tmp_path: Path, database_url: str, redis_url: str, redis_prefix: str
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, SlowProvider, Container]]:
    settings = Settings(  # type: ignore[call-arg]
        var_dir=tmp_path,
        secret_key="k" * 48,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        rate_limit_enabled=False,
        stream_revocation_check_seconds=0.05,
        _env_file=None,
    )
    provider = SlowProvider()
    async with AsyncExitStack() as stack:
        clients, containers = [], []
        for _ in range(2):
            container = bootstrap(
                settings, mailer=InMemoryMailer(), hasher=Pbkdf2PasswordHasher(), providers={"demo": provider}
            )
            stack.push_async_callback(container.aclose)
            containers.append(container)
            clients.append(await stack.enter_async_context(loop_client(container)))
        yield clients[0], clients[1], provider, containers[0]


async def test_disabling_a_user_ends_their_open_stream_with_an_error_and_charges_what_was_produced(
    apis: tuple[httpx.AsyncClient, httpx.AsyncClient, SlowProvider, Container],
) -> None:
    admin_api, chat_api, provider, container = apis
    await container.identity.create_admin("root@example.com", PASSWORD)
    admin = bearer((await container.identity.sign_in(SignInRequest("root@example.com", PASSWORD))).access_token)
    ada = bearer(await verified_user_token(container, "ada@example.com"))
    ada_id = (await chat_api.get("/api/auth/me", headers=ada)).json()["id"]
    body = {"content": "Tell me everything", "stream": True, "max_tokens": 4_000}
    streaming = asyncio.create_task(chat_api.post("/api/chat", json=body, headers=ada))
    await provider.started.wait()

    disabled = await admin_api.patch(f"/api/admin/users/{ada_id}", json={"disabled": True}, headers=admin)
    assert disabled.status_code == 200, disabled.text
    provider.go_on.set()
    response = await asyncio.wait_for(streaming, timeout=15)

    assert response.status_code == 200
    events = parse_sse(response.text)
    names = [name for _, name, _ in events]
    assert names[0] == "start" and names[-1] == "error" and "done" not in names
    error: dict[str, Any] = events[-1][2]
    assert (error["type"], error["status"]) == ("account-disabled", 401)
    deltas = [data["text"] for _, name, data in events if name == "delta"]
    assert 1 <= len(deltas) < PIECES / 4  # ended within a few check intervals, not at the reply's end
    detail = (await admin_api.get(f"/api/admin/users/{ada_id}", headers=admin)).json()
    assert detail["usage"]["used"] >= len(deltas)  # charged: the prompt and what was written
    conversations = await _conversation_of(container, ada_id)
    assert conversations == "".join(deltas)


async def _conversation_of(container: Container, user_id: str) -> str:
    """The assistant's stored words (kept, though cut short)."""
    async with container.uow_factory() as uow:
        [conversation] = await uow.conversations.list_for_user(UUID(user_id), 10, None)
        messages = await uow.messages.list_for_conversation(conversation.id)
    return "".join(m.content for m in messages if m.role.value == "assistant")
