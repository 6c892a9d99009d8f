"""OpenAI-compatible POST /v1/embeddings: OpenAI's wire format (`input` a string or a list of strings,
`encoding_format` float or base64, `dimensions` where the model supports it) for the catalogue's embedding
models, metered as prompt tokens like a chat turn's prompt, behind the same API-key auth and `chat` rate limit.
Errors in OpenAI's body (the /v1 router's handlers)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from application.conversation.embed import EmbedRequest
from application.identity.dto import Principal
from application.identity.guards import require_verified_email
from domain.shared.errors import InvalidInput
from entrypoints.http.dependencies import hot_path_services
from entrypoints.http.openai_compat import v1_errors


class EmbeddingsBody(msgspec.Struct):
    model: str
    input: str | list[Any]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, msgspec.Meta(ge=1)] | None = None
    user: str | None = None


class EmbeddingObject(msgspec.Struct):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str
    """The vector's floats, or (`encoding_format: base64`) base64 of its little-endian float32s."""


class EmbeddingUsage(msgspec.Struct):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(msgspec.Struct):
    object: Literal["list"]
    data: list[EmbeddingObject]
    model: str
    usage: EmbeddingUsage


def texts_of(value: str | list[Any]) -> list[str]:
    """`input` as texts; token arrays (a list of integers, or a list of such lists) are refused, naming `input`."""
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        raise InvalidInput("input", "Token arrays are not supported: send the text (a string or a list of strings).")
    if any(isinstance(item, list) for item in value):
        raise InvalidInput("input", "Token arrays are not supported: send the text (a string or a list of strings).")
    if not all(isinstance(item, str) for item in value):
        raise InvalidInput("input", "`input` is a string or a list of strings.")
    return value


def encoded(vector: Sequence[float], encoding_format: str) -> list[float] | str:
    """A vector as OpenAI sends it: a list of floats, or base64 of its little-endian float32s."""
    if encoding_format == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return list(vector)


@post("/embeddings", status_code=200, responses=v1_errors(401, 403, 404, 429, 503))
async def create_embeddings(
    request: Request[Any, Any, Any], data: JSONBody[EmbeddingsBody], principal: NamedDependency[Principal]
) -> EmbeddingList:
    services = hot_path_services(request)
    await services.rate_limits.check(request, "chat", user_id=str(principal.user.id))
    require_verified_email(principal, required=services.settings.require_verified_email)
    embeddings = await services.conversation.embed(
        EmbedRequest(
            user_id=principal.user.id,
            plan=principal.user.plan,
            model=data.model,
            inputs=texts_of(data.input),
            dimensions=data.dimensions,
        )
    )
    return EmbeddingList(
        object="list",
        data=[
            EmbeddingObject("embedding", index, encoded(vector, data.encoding_format))
            for index, vector in enumerate(embeddings.vectors)
        ],
        model=embeddings.model,
        usage=EmbeddingUsage(embeddings.prompt_tokens, embeddings.prompt_tokens),
    )
