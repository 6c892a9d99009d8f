"""/api/auth and /api/keys: parse, rate-limit, call the use case, shape the answer."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from application.identity.change_password import ChangePasswordRequest
from application.identity.delete_account import DeleteAccountRequest
from application.identity.dto import Principal
from application.identity.reset_password import ResetPasswordRequest
from application.identity.sign_in import SignInRequest
from application.identity.sign_up import SignUpRequest
from application.identity.update_profile import UpdateProfileRequest
from entrypoints.bootstrap import IdentityUseCases
from entrypoints.http.dependencies import Injected, provide_principal
from entrypoints.http.identity_schemas import (
    Accepted,
    ApiKeyBody,
    ApiKeyList,
    ApiKeyOut,
    ChangePasswordBody,
    CreatedApiKeyOut,
    DeleteAccountBody,
    EmailBody,
    ProfileBody,
    RefreshBody,
    ResetPasswordBody,
    SignInBody,
    SignOutBody,
    SignUpBody,
    TokenBody,
    TokensOut,
    UserOut,
)
from entrypoints.http.problems import errors
from entrypoints.http.rate_limits import RateLimits

SIGNUP_ACCEPTED = "Check your inbox: we have sent a link to confirm the address."
EMAIL_ACCEPTED = "If an account uses that address, an email is on its way."
AUTHED = {"principal": Provide(provide_principal)}


class AuthController(Controller):
    path = "/api/auth"
    tags = ["identity"]

    @post("/signup", status_code=202, responses=errors(422, 429))
    async def signup(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignUpBody],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Accepted:
        """Create an account; the same 202 whether or not the address is taken (its owner is emailed)."""
        await rate_limits.check(request, "signup")
        await identity.sign_up(SignUpRequest(email=data.email, password=data.password, name=data.name))
        return Accepted(SIGNUP_ACCEPTED)

    @post("/signin", status_code=200, responses=errors(401, 422, 429))
    async def signin(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[SignInBody],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> TokensOut:
        await rate_limits.check(request, "signin", email=data.email)
        pair = await identity.sign_in(SignInRequest(email=data.email, password=data.password))
        return TokensOut.of(pair)

    @post("/refresh", status_code=200, responses=errors(401, 422))
    async def refresh(self, data: JSONBody[RefreshBody], identity: Injected[IdentityUseCases]) -> TokensOut:
        """Rotate: the refresh token is spent; reusing a spent one revokes its whole session."""
        return TokensOut.of(await identity.refresh(data.refresh_token))

    @post("/signout", status_code=204, dependencies=AUTHED, responses=errors(401))
    async def signout(
        self,
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
        data: JSONBody[SignOutBody | None] = None,
    ) -> None:
        await identity.sign_out(principal, data.refresh_token if data else None)

    @get("/me", dependencies=AUTHED, responses=errors(401))
    async def me(self, principal: NamedDependency[Principal]) -> UserOut:
        return UserOut.of(principal.user)

    @patch("/me", dependencies=AUTHED, responses=errors(401, 422))
    async def update_me(
        self, data: JSONBody[ProfileBody], principal: NamedDependency[Principal], identity: Injected[IdentityUseCases]
    ) -> UserOut:
        """Set the display name (1..100 characters once trimmed) or clear it with null."""
        return UserOut.of(await identity.update_profile(principal, UpdateProfileRequest(name=data.name)))

    @delete("/me", status_code=204, dependencies=AUTHED, responses=errors(401, 403, 422, 429))
    async def delete_me(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[DeleteAccountBody],
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> None:
        """Delete the account (the password is required): every session and API key stops working at once, the
        address and name are erased (the address may sign up again), the conversations are erased and a paid
        subscription is canceled at once; payments and invoices are kept. 403 with an API key."""
        await rate_limits.check(request, "delete-account", user_id=str(principal.user.id))
        await identity.delete_account(principal, DeleteAccountRequest(password=data.password))

    @get("/me/export", dependencies=AUTHED, responses=errors(401, 403))
    async def export_me(
        self, principal: NamedDependency[Principal], identity: Injected[IdentityUseCases]
    ) -> dict[str, Any]:
        """Everything kept about the account as one JSON document: profile, conversations with their messages,
        usage records, subscription (or null) and payments. No password hash, token or key. 403 with an API key:
        only a signed-in session may export."""
        return await identity.export_account(principal)

    @post("/change-password", status_code=200, dependencies=AUTHED, responses=errors(401, 403, 422, 429))
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ChangePasswordBody],
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> TokensOut:
        """Replace the password (the current one is required): every session is signed out, the calling one
        too, and a new session's tokens are the answer. 403 with an API key: only a signed-in session may."""
        await rate_limits.check(request, "change-password", user_id=str(principal.user.id))
        change = ChangePasswordRequest(current_password=data.current_password, new_password=data.new_password)
        return TokensOut.of(await identity.change_password(principal, change))

    @post("/verify-email", status_code=200, responses=errors(400, 422))
    async def verify_email(self, data: JSONBody[TokenBody], identity: Injected[IdentityUseCases]) -> UserOut:
        return UserOut.of(await identity.verify_email(data.token))

    @post("/resend-verification", status_code=202, responses=errors(422, 429))
    async def resend_verification(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[EmailBody],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Accepted:
        await rate_limits.check(request, "resend-verification", email=data.email)
        await identity.resend_verification(data.email)
        return Accepted(EMAIL_ACCEPTED)

    @post("/forgot-password", status_code=202, responses=errors(422, 429))
    async def forgot_password(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[EmailBody],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Accepted:
        await rate_limits.check(request, "forgot-password", email=data.email)
        await identity.forgot_password(data.email)
        return Accepted(EMAIL_ACCEPTED)

    @post("/reset-password", status_code=200, responses=errors(400, 422))
    async def reset_password(self, data: JSONBody[ResetPasswordBody], identity: Injected[IdentityUseCases]) -> Accepted:
        """Set a new password; every session of the user is signed out. No automatic sign-in."""
        await identity.reset_password(ResetPasswordRequest(token=data.token, password=data.password))
        return Accepted("Your password has been changed; sign in with the new one.")


class ApiKeyController(Controller):
    path = "/api/keys"
    tags = ["identity"]
    dependencies = AUTHED

    @post("/", status_code=201, responses=errors(401, 422))
    async def create(
        self,
        data: JSONBody[ApiKeyBody],
        principal: NamedDependency[Principal],
        identity: Injected[IdentityUseCases],
    ) -> CreatedApiKeyOut:
        """Create a key for /v1. The key itself is in this answer only: it is stored hashed."""
        created = await identity.create_api_key(principal, data.name)
        key = created.api_key
        return CreatedApiKeyOut(key.id, key.name, key.prefix, created.key, key.created_at)

    @get("/", responses=errors(401))
    async def list_keys(
        self, principal: NamedDependency[Principal], identity: Injected[IdentityUseCases]
    ) -> ApiKeyList:
        keys = await identity.list_api_keys(principal)
        return ApiKeyList(items=[ApiKeyOut.of(key) for key in keys])

    @delete("/{key_id:uuid}", status_code=204, responses=errors(401, 404))
    async def revoke(
        self, key_id: FromPath[UUID], principal: NamedDependency[Principal], identity: Injected[IdentityUseCases]
    ) -> None:
        await identity.revoke_api_key(principal, key_id)
