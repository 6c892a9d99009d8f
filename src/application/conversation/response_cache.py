"""The response cache: an exact match on (user, model, parameters, full context) answers from the cache,
costs no quota, and expires after PARLEY_CACHE_TTL_SECONDS (0 turns it off)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from application.shared.ports import Cache
from domain.conversation.model import Usage
from domain.conversation.ports import Turn


@dataclass(frozen=True, slots=True)
class CachedReply:
    content: str
    usage: Usage
    provider: str
    finish_reason: str = "stop"


class ResponseCache:
    def __init__(self, cache: Cache, ttl_seconds: int) -> None:
        self._cache = cache
        self._ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def key(self, user_id: UUID, model: str, max_tokens: int, temperature: float | None, turns: Sequence[Turn]) -> str:
        """The entry's key; "" when the cache is off (the key hashes the whole context, for nothing then)."""
        if not self.enabled:
            return ""
        material = json.dumps(
            [str(user_id), model, max_tokens, temperature, [[t.role.value, t.content] for t in turns]],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return "reply:" + hashlib.sha256(material.encode()).hexdigest()

    async def get(self, key: str) -> CachedReply | None:
        """None for the empty key (the cache is off, or the request is not one it keeps)."""
        if not key:
            return None
        raw = await self._cache.get(key)
        if raw is None:
            return None
        data = json.loads(raw)
        usage = Usage(data["prompt_tokens"], data["completion_tokens"])
        return CachedReply(data["content"], usage, data["provider"], data.get("finish_reason", "stop"))

    async def put(self, key: str, reply: CachedReply) -> None:
        if not key:
            return
        data = {
            "content": reply.content,
            "prompt_tokens": reply.usage.prompt_tokens,
            "completion_tokens": reply.usage.completion_tokens,
            "provider": reply.provider,
            "finish_reason": reply.finish_reason,
        }
        await self._cache.set(key, json.dumps(data).encode(), self._ttl)
