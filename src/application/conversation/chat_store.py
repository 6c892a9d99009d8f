"""The chat hot path's own storage port, in the words of a chat turn: load what a reply needs, record the
user's prompt, record the reply with everything it causes. Each call is one transaction of its own; counters
(a conversation's message count, a user's usage totals) are incremented by the store, never written back from
a copy read earlier, so concurrent replies into one conversation lose no count."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from application.conversation.crossings import Crossing
from application.shared.facts import Fact
from application.shared.ports import OutboxMessage
from domain.conversation.model import Conversation, Message
from domain.conversation.ports import UsageRecord


@dataclass(frozen=True, slots=True)
class LoadedTurn:
    conversation: Conversation
    history: Sequence[Message]
    """The conversation's messages, oldest first (empty when not asked for)."""


class ChatStore(Protocol):
    async def load_turn(self, user_id: UUID, conversation_id: UUID, *, with_history: bool = True) -> LoadedTurn | None:
        """The user's conversation and its messages; None for an unknown id or another user's conversation."""
        ...

    async def record_prompt(self, conversation: Conversation, message: Message, *, new: bool) -> None:
        """Store the user's message: with the conversation if `new`, else adding one to its message count and
        moving its `updated_at` to the message's time."""
        ...

    async def record_reply(
        self,
        message: Message | None,
        usage: UsageRecord,
        outbox: Sequence[OutboxMessage] = (),
        facts: Sequence[Fact] = (),
        crossings: Sequence[Crossing] = (),
    ) -> None:
        """In one transaction: the assistant's message (None when the reply has no text; the conversation's count
        and `updated_at` move with it), the usage record, the user's usage totals (period, day, model; a cached
        reply counts as a request, never as tokens), the outbox messages the reply causes, those of the
        `crossings` that fire on the user's period total before and after this record (`Crossing.fired`; of
        concurrent records, each sees the total the one before it left) and its analytics facts (the
        message.replied fact; one whose id is recorded already is skipped). All or nothing."""
        ...

    async def record_facts(self, facts: Sequence[Fact]) -> None:
        """Analytics facts of a turn that stored no reply (every provider failed before answering), in one
        transaction; a fact whose id is recorded already is skipped."""
        ...
