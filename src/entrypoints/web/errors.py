"""How a failure reads on a page: a status and a sentence for every error a use case raises."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from domain.shared.errors import DomainError, InvalidInput, RateLimited
from entrypoints.http.json_input import bad_text_at
from entrypoints.http.problems import STATUS_BY_ERROR
from entrypoints.web.context import SignInRequired, Visit, signin_url, web_state
from entrypoints.web.security import CsrfRefused

CSRF_MESSAGE = "This form has expired or did not come from Parley. Reload the page and try again."


def status_of(error: DomainError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def message_of(error: DomainError) -> str:
    if isinstance(error, RateLimited):
        return f"Too many attempts. Try again in {error.retry_after} seconds."
    return error.detail


def field_errors(error: DomainError) -> dict[str, str]:
    return {error.field: error.detail} if isinstance(error, InvalidInput) else {}


def refuse_bad_text(fields: dict[str, str]) -> None:
    """Form fields are text: a NUL byte or a lone surrogate is refused naming the field, as on the API."""
    path = bad_text_at(fields)
    if path is not None:
        raise InvalidInput(str(path[0]), "Text must not contain a NUL character or a lone surrogate.")


def retry_headers(response: Response[Any], error: DomainError) -> Response[Any]:
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def form_refused(visit: Visit, template: str, error: DomainError, **context: Any) -> Response[Any]:
    """`template` shown again after `error` refused its form: the error's status and sentence (`error`), the
    field it names (`errors`), and Retry-After when it was a rate limit."""
    page = visit.render(
        template, status=status_of(error), errors=field_errors(error), error=message_of(error), **context
    )
    return retry_headers(page, error)


def _plain_visit(request: Request[Any, Any, Any]) -> Visit:
    web = web_state(request.app.state)
    nonce = request.cookies.get("parley_csrf") or web.csrf.new_nonce()
    return Visit(request, web, nonce, None, new_nonce="parley_csrf" not in request.cookies)


def web_exception_handlers() -> dict[Any, Any]:
    def csrf_refused(request: Request[Any, Any, Any], _: CsrfRefused) -> Response[Any]:
        return _plain_visit(request).render("error.html", status=403, title="Request refused", message=CSRF_MESSAGE)

    def sign_in_required(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
        visit = _plain_visit(request)
        visit.end_session()
        return visit.redirect(signin_url(exc.next_path))

    def domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
        status = status_of(exc)
        title = "Not found" if status == 404 else "Something went wrong"
        response = _plain_visit(request).render("error.html", status=status, title=title, message=message_of(exc))
        return retry_headers(response, exc)

    def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        status = exc.status_code
        title = "Not found" if status == 404 else "Request refused"
        message = "There is no such page." if status == 404 else str(exc.detail)
        return _plain_visit(request).render("error.html", status=status, title=title, message=message)

    return {
        CsrfRefused: csrf_refused,
        SignInRequired: sign_in_required,
        DomainError: domain_error,
        HTTPException: http_error,
    }
