"""Preparing a chat turn: check the input, pick the model for the plan, read the allowance, load the
conversation (404 for another user's), fit the context into the model's window and key the response cache.
Nothing is stored here, so a refused request leaves no trace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from application.conversation.chat_store import ChatStore
from application.conversation.ports import Reservation
from application.conversation.response_cache import ResponseCache
from application.shared.allowance import Allowance, AllowanceProvider
from domain.conversation.catalogue import ModelCatalogue, ModelSpec, RouteStep
from domain.conversation.context import check_content, fit_context
from domain.conversation.model import Conversation, Message, Role, title_from
from domain.conversation.ports import CompletionOptions, CompletionRequest, Turn
from domain.conversation.tokens import estimate_tokens
from domain.shared.clock import Clock
from domain.shared.errors import InvalidInput, NotFound
from domain.shared.ids import new_id

PER_MESSAGE_OVERHEAD_TOKENS = 4
SYSTEM_MAX_LENGTH = 32_000
IMAGE_TOKENS_ESTIMATE = 800
"""What the quota reserves for an image part (the provider's count settles it)."""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    user_id: UUID
    plan: str
    content: str
    conversation_id: UUID | None = None
    model: str | None = None
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    history: Sequence[Turn] | None = None
    """The whole earlier context, when the client keeps it (/v1); else it is loaded from the conversation."""
    last: Turn | None = None
    """The new turn in full, when it is more than the user's text (`content`): a tool's result, or a user turn
    with images (/v1). Stored as the user's prompt, with `content` as its text."""
    options: CompletionOptions | None = None
    """Tools, response format, stop sequences, sampling (/v1); None for a plain chat."""

    @property
    def plain(self) -> bool:
        return self.options is None and self.last is None and not any(not t.plain for t in self.history or ())


@dataclass
class PreparedTurn:
    """Everything one reply needs between preparing it and accounting for it."""

    request: ChatRequest
    spec: ModelSpec
    allowance: Allowance
    conversation: Conversation
    new: bool
    turns: list[Turn]
    max_tokens: int
    prompt_estimate: int
    cache_key: str
    prompt_id: UUID = field(default_factory=new_id)
    message_id: UUID = field(default_factory=new_id)
    """The assistant message's id, known from the start (the stream's `start` event carries it); made after
    the prompt's, so the two keep their order even when made in the same instant."""
    reservation: Reservation | None = None

    def completion_request(self, step: RouteStep) -> CompletionRequest:
        return CompletionRequest(
            step.upstream_model, self.turns, self.max_tokens, self.request.temperature, self.request.options
        )

    def user_message(self) -> Message:
        return Message(
            id=self.prompt_id,
            conversation_id=self.conversation.id,
            user_id=self.request.user_id,
            role=Role.USER,
            content=self.request.content,
            created_at=self.conversation.updated_at,
        )


class PrepareTurn:
    def __init__(
        self,
        catalogue: ModelCatalogue,
        allowance: AllowanceProvider,
        store: ChatStore,
        cache: ResponseCache,
        clock: Clock,
    ) -> None:
        self._catalogue = catalogue
        self._allowance = allowance
        self._store = store
        self._cache = cache
        self._clock = clock

    async def __call__(self, request: ChatRequest) -> PreparedTurn:
        if request.last is None or request.content.strip():  # a tool's result or an image may come without text
            check_content(request.content)
        spec = self._catalogue.for_plan(request.model, request.plan)
        max_tokens = request.max_tokens or spec.default_max_tokens
        if not 1 <= max_tokens <= spec.context_window // 2:
            raise InvalidInput("max_tokens", f"Use 1 to {spec.context_window // 2} for {spec.id}.")
        if request.temperature is not None and not 0 <= request.temperature <= 2:
            raise InvalidInput("temperature", "Use a temperature from 0 to 2.")
        if request.system is not None and len(request.system) > SYSTEM_MAX_LENGTH:
            raise InvalidInput("system", "A system prompt is at most 32,000 characters.")
        allowance = await self._allowance.current(request.user_id, request.plan, self._clock.now())
        conversation, history = await self._conversation_and_history(request, spec)
        conversation.updated_at = self._clock.now()  # the prompt's time
        turns = fit_context(
            request.system,
            [*history, request.last or Turn(Role.USER, request.content)],
            spec.context_window,
            max_tokens,
            estimate_tokens,
        )
        prompt_estimate = sum(estimate_tokens(t.content) + PER_MESSAGE_OVERHEAD_TOKENS for t in turns)
        if request.plain:
            key = self._cache.key(request.user_id, spec.id, max_tokens, request.temperature, turns)
        else:  # tools, images, formats: the reply may be more than text, which the cache does not keep
            prompt_estimate += _rich_estimate(spec, turns, request.options)
            key = ""
        new = request.conversation_id is None
        return PreparedTurn(request, spec, allowance, conversation, new, turns, max_tokens, prompt_estimate, key)

    async def _conversation_and_history(self, request: ChatRequest, spec: ModelSpec) -> tuple[Conversation, list[Turn]]:
        if request.conversation_id is None:
            now = self._clock.now()
            title = title_from(request.content)
            conversation = Conversation(
                id=new_id(), user_id=request.user_id, title=title, model=spec.id, created_at=now, updated_at=now
            )
            return conversation, list(request.history or [])
        loaded = await self._store.load_turn(
            request.user_id, request.conversation_id, with_history=request.history is None
        )
        if loaded is None:
            raise NotFound("No such conversation.")
        if request.history is not None:
            return loaded.conversation, list(request.history)
        return loaded.conversation, [Turn(m.role, m.content) for m in loaded.history]


def _rich_estimate(spec: ModelSpec, turns: Sequence[Turn], options: CompletionOptions | None) -> int:
    """What tool calls, images and tool definitions add to the prompt estimate; refuses images for a model
    that does not read them."""
    extra = 0
    for turn in turns:
        if turn.images:
            if not spec.accepts_images:
                raise InvalidInput("messages", f"{spec.id} does not accept images; send text only.")
            extra += IMAGE_TOKENS_ESTIMATE * len(turn.images)
        for call in turn.tool_calls:
            extra += estimate_tokens(call.name + call.arguments)
    if options is not None:
        for tool in options.tools:
            extra += estimate_tokens(f"{tool.name}{tool.description or ''}{tool.parameters or ''}")
    return extra
