"""/v1/embeddings on each real SQL backend: the usage record it stores (completion 0) is what GET /api/usage shows
by model, and what a fresh process's quota ledger seeds itself from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from adapters.memory.mailer import InMemoryMailer
from adapters.memory.password_hasher import Pbkdf2PasswordHasher
from domain.conversation.tokens import estimate_tokens
from entrypoints.bootstrap import Container, bootstrap
from entrypoints.settings import Settings
from tests.support.app import PASSWORD, bearer, loop_client, verified_user_token

TEXTS = ["The quick brown fox", "jumps over the lazy dog"]


@asynccontextmanager
async def closing(container: Container) -> AsyncIterator[Container]:
    try:
        yield container
    finally:
        await container.aclose()


def sql_container(tmp_path: Path, database_url: str) -> Container:
    settings = Settings(var_dir=tmp_path, secret_key="k" * 48, database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    return bootstrap(settings, mailer=InMemoryMailer(), hasher=Pbkdf2PasswordHasher())


async def test_embedding_usage_is_stored_and_seeds_a_fresh_ledger(tmp_path: Path, database_url: str) -> None:
    tokens = sum(estimate_tokens(text) for text in TEXTS)
    first = sql_container(tmp_path, database_url)
    async with closing(first), loop_client(first) as client:
        headers = bearer(await verified_user_token(first, "emb@example.com"))
        created = await client.post(
            "/v1/embeddings", json={"model": "parley-demo-embed", "input": TEXTS}, headers=headers
        )
        assert created.status_code == 200 and created.json()["usage"]["prompt_tokens"] == tokens
        usage = (await client.get("/api/usage", headers=headers)).json()
    assert usage["used"] == tokens
    row = next(r for r in usage["by_model"] if r["model"] == "parley-demo-embed")
    assert (row["requests"], row["prompt_tokens"], row["completion_tokens"]) == (1, tokens, 0)

    (tmp_path / "again").mkdir()
    second = sql_container(tmp_path / "again", database_url)  # a new process: an empty in-memory ledger
    async with closing(second), loop_client(second) as client:
        signin = await client.post("/api/auth/signin", json={"email": "emb@example.com", "password": PASSWORD})
        assert signin.status_code == 200
        again = (await client.get("/api/usage", headers=bearer(signin.json()["access_token"]))).json()
    assert again["used"] == tokens
