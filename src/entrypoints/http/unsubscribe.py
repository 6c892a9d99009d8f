"""Unsubscribing from announcements: POST /unsubscribe?token=T (the RFC 8058 one-click POST a mail client sends to
the List-Unsubscribe URL; whatever its body) and POST /api/email/unsubscribe `{token}`. Both answer 200 and stop
announcements to the token's user; a bad token is a 400 problem. GET /unsubscribe?token=T is the web page: the
one-click POST is mounted in the web router beside it (one path, one router), yet answers as the API does."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import post
from litestar.params import JSONBody, QueryParameter

from entrypoints.bootstrap import IdentityUseCases
from entrypoints.http.dependencies import Injected
from entrypoints.http.identity_schemas import TokenBody
from entrypoints.http.problems import EXCEPTION_HANDLERS, errors

Token = Annotated[str, QueryParameter(min_length=1, max_length=512, description="the token of the emailed link")]


class Unsubscribed(msgspec.Struct):
    unsubscribed: bool


@post(
    "/unsubscribe",
    status_code=200,
    responses=errors(400, 422),
    tags=["email"],
    exception_handlers=EXCEPTION_HANDLERS,  # an API answer (problem details), though mounted with the web pages
)
async def one_click_unsubscribe(token: Token, identity: Injected[IdentityUseCases]) -> Unsubscribed:
    """The one-click unsubscribe of RFC 8058 (body `List-Unsubscribe=One-Click`, or any other: it is not read)."""
    await identity.unsubscribe(token)
    return Unsubscribed(True)


@post("/api/email/unsubscribe", status_code=200, responses=errors(400, 422), tags=["email"])
async def unsubscribe(data: JSONBody[TokenBody], identity: Injected[IdentityUseCases]) -> Unsubscribed:
    """Stop announcements to the user the token was emailed to (account and billing emails still go out)."""
    await identity.unsubscribe(data.token)
    return Unsubscribed(True)
