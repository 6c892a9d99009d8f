"""Conversations, messages and the rules about them. Pure: no I/O, time passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

TITLE_MAX_LENGTH = 60
CONTENT_MAX_LENGTH = 32_000


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    """A tool's result, in a context the client keeps (/v1): never stored as a message of its own."""


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(kw_only=True)
class Conversation:
    id: UUID
    user_id: UUID
    title: str
    model: str
    created_at: datetime
    updated_at: datetime
    message_count: int = 0


@dataclass(kw_only=True)
class Message:
    id: UUID
    conversation_id: UUID
    user_id: UUID
    role: Role
    content: str
    created_at: datetime
    model: str | None = None
    provider: str | None = None
    usage: Usage = field(default_factory=Usage)
    cached: bool = False


def title_from(content: str) -> str:
    """The first message cut to at most 60 characters at a word boundary."""
    text = " ".join(content.split())
    if len(text) <= TITLE_MAX_LENGTH:
        return text or "New conversation"
    cut = text[: TITLE_MAX_LENGTH + 1]
    boundary = cut.rfind(" ")
    return (cut[:boundary] if boundary > 0 else text[:TITLE_MAX_LENGTH]).rstrip()
