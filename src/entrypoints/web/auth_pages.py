"""The pages of signing up, in and out, and of the links emails carry (verify, reset, unsubscribe)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from application.identity.reset_password import ResetPasswordRequest
from application.identity.sign_in import SignInRequest
from application.identity.sign_up import SignUpRequest
from domain.identity.errors import InvalidToken
from domain.shared.errors import DomainError
from entrypoints.bootstrap import IdentityUseCases
from entrypoints.http.dependencies import Injected
from entrypoints.http.identity import EMAIL_ACCEPTED, SIGNUP_ACCEPTED
from entrypoints.http.rate_limits import RateLimits
from entrypoints.web.context import Visit, safe_next
from entrypoints.web.errors import field_errors, form_refused, message_of, refuse_bad_text, retry_headers, status_of

Token = Annotated[str, QueryParameter(required=False)]
Next = Annotated[str | None, QueryParameter(name="next", required=False)]
LINK_USED = "This link has expired or has already been used."


class AuthPages(Controller):
    path = ""
    include_in_schema = False

    @get("/")
    async def home(self, visit: NamedDependency[Visit]) -> Response[Any]:
        """Signed out: the way in; signed in: the chat."""
        if visit.signed_in is not None:
            return visit.redirect("/chat")
        return visit.render("landing.html", title="Parley")

    @get("/signup")
    async def signup_page(self, visit: NamedDependency[Visit]) -> Response[Any]:
        return visit.render("signup.html", title="Sign up", values={}, errors={})

    @post("/signup", status_code=200)
    async def signup(
        self,
        visit: NamedDependency[Visit],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Response[Any]:
        form = await visit.form()
        values = {"email": form.get("email", ""), "name": form.get("name", "")}
        try:
            refuse_bad_text(form)
            await rate_limits.check(visit.request, "signup")
            request = SignUpRequest(email=values["email"], password=form.get("password", ""), name=values["name"])
            await identity.sign_up(request)
        except DomainError as error:
            return form_refused(visit, "signup.html", error, title="Sign up", values=values)
        return visit.render("message.html", title="Check your inbox", message=SIGNUP_ACCEPTED, links="signin")

    @get("/signin")
    async def signin_page(self, visit: NamedDependency[Visit], next_path: Next = None) -> Response[Any]:
        return visit.render("signin.html", title="Sign in", values={}, next=safe_next(next_path), errors={})

    @post("/signin", status_code=200)
    async def signin(
        self,
        visit: NamedDependency[Visit],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Response[Any]:
        form = await visit.form()
        email, next_path = form.get("email", ""), safe_next(form.get("next"))
        try:
            refuse_bad_text(form)
            await rate_limits.check(visit.request, "signin", email=email)
            pair = await identity.sign_in(SignInRequest(email=email, password=form.get("password", "")))
        except DomainError as error:
            return form_refused(visit, "signin.html", error, title="Sign in", values={"email": email}, next=next_path)
        visit.start_session(pair.access_token, pair.refresh_token)
        return visit.redirect(next_path)

    @post("/signout", status_code=200)
    async def signout(self, visit: NamedDependency[Visit], identity: Injected[IdentityUseCases]) -> Response[Any]:
        await visit.form()
        if visit.signed_in is not None:
            await identity.sign_out(visit.signed_in.principal, visit.request.cookies.get("parley_refresh"))
        visit.end_session()
        return visit.redirect("/")

    @get("/forgot-password")
    async def forgot_page(self, visit: NamedDependency[Visit]) -> Response[Any]:
        return visit.render("forgot.html", title="Forgot password", values={}, errors={})

    @post("/forgot-password", status_code=200)
    async def forgot(
        self,
        visit: NamedDependency[Visit],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Response[Any]:
        form = await visit.form()
        email = form.get("email", "")
        try:
            refuse_bad_text(form)
            await rate_limits.check(visit.request, "forgot-password", email=email)
            await identity.forgot_password(email)
        except DomainError as error:
            return form_refused(visit, "forgot.html", error, title="Forgot password", values={"email": email})
        return visit.render("message.html", title="Check your inbox", message=EMAIL_ACCEPTED, links="signin")

    @get("/verify-email")
    async def verify_email(
        self, visit: NamedDependency[Visit], identity: Injected[IdentityUseCases], token: Token = ""
    ) -> Response[Any]:
        """The emailed link: verifying is what opening it means (the token is single-use and expires)."""
        try:
            await identity.verify_email(token)
        except InvalidToken:
            return visit.render("verify_failed.html", status=400, title="Link expired", message=LINK_USED, errors={})
        message = "Your email address is verified. You can now chat and subscribe."
        return visit.render("message.html", title="Email verified", message=message, links="chat")

    @post("/resend-verification", status_code=200)
    async def resend_verification(
        self,
        visit: NamedDependency[Visit],
        identity: Injected[IdentityUseCases],
        rate_limits: NamedDependency[RateLimits],
    ) -> Response[Any]:
        form = await visit.form()
        email = form.get("email", "")
        try:
            refuse_bad_text(form)
            await rate_limits.check(visit.request, "resend-verification", email=email)
            await identity.resend_verification(email)
        except DomainError as error:
            page = visit.render(
                "verify_failed.html",
                status=status_of(error),
                title="Resend the link",
                message=message_of(error),
                errors=field_errors(error),
            )
            return retry_headers(page, error)
        return visit.render("message.html", title="Check your inbox", message=EMAIL_ACCEPTED, links="signin")

    @get("/reset-password")
    async def reset_page(self, visit: NamedDependency[Visit], token: Token = "") -> Response[Any]:
        if not token:
            return visit.render("reset_failed.html", status=400, title="Link expired", message=LINK_USED)
        return visit.render("reset.html", title="Choose a new password", token=token, errors={})

    @post("/reset-password", status_code=200)
    async def reset(self, visit: NamedDependency[Visit], identity: Injected[IdentityUseCases]) -> Response[Any]:
        form = await visit.form()
        token = form.get("token", "")
        try:
            refuse_bad_text(form)
            await identity.reset_password(ResetPasswordRequest(token=token, password=form.get("password", "")))
        except InvalidToken:
            return visit.render("reset_failed.html", status=400, title="Link expired", message=LINK_USED)
        except DomainError as error:
            return form_refused(visit, "reset.html", error, title="Choose a new password", token=token)
        visit.end_session()  # every session of the user was just revoked, this browser's too
        message = "Your password has been changed. Sign in with the new one."
        return visit.render("message.html", title="Password changed", message=message, links="signin")

    @get("/unsubscribe")
    async def unsubscribe_page(self, visit: NamedDependency[Visit], token: Token = "") -> Response[Any]:
        """The link in announcement emails: a button (its script posts the token to /api/email/unsubscribe)."""
        return visit.render("unsubscribe.html", title="Unsubscribe", token=token)
