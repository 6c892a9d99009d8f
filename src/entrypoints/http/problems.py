"""RFC 9457 problem details for every error: domain errors, framework errors, validation, the unexpected.
The `type` is the stable slug clients compare on; nothing of a stack trace ever reaches a body."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError

from domain.billing.errors import NoSubscription, PaymentFailed
from domain.conversation.errors import ModelNotAllowed, ProviderUnavailable, QuotaExceeded, QuotaUnavailable
from domain.identity.errors import EmailNotVerified, Forbidden, InvalidCredentials, InvalidToken, Unauthenticated
from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound, RateLimited, Unavailable

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("parley.http")


class Problem(msgspec.Struct):
    type: str
    title: str
    status: int
    detail: str


class FieldError(msgspec.Struct):
    field: str
    message: str


class ValidationProblem(msgspec.Struct):
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError]


STATUS_BY_ERROR: dict[type[DomainError], int] = {
    InvalidCredentials: 401,
    Unauthenticated: 401,
    InvalidToken: 400,
    EmailNotVerified: 403,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    RateLimited: 429,
    Unavailable: 503,
    QuotaExceeded: 402,
    ModelNotAllowed: 403,
    ProviderUnavailable: 503,
    QuotaUnavailable: 503,
    NoSubscription: 409,
    PaymentFailed: 402,
}
SLUG_BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    402: "quota-exceeded",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    503: "service-unavailable",
}


def problem(
    status: int, slug: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body = {"type": slug, "title": HTTPStatus(status).phrase, "status": status, "detail": detail, **extra}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _status_of(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 400


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    status = _status_of(exc)
    if isinstance(exc, InvalidInput):
        errors = [{"field": exc.field, "message": exc.detail}]
        return problem(422, "validation-error", "The request has invalid fields.", errors=errors)
    if isinstance(exc, RateLimited):
        return problem(429, exc.code, exc.detail, headers={"Retry-After": str(exc.retry_after)})
    return problem(status, exc.code, exc.detail)


_AT_PATH = re.compile(r"^(?P<message>.*?) - at `\$\.(?P<field>[\w.\[\]]+)`$")
_MISSING = re.compile(r"missing required field `(?P<field>\w+)`")


def _field_error(item: Any) -> dict[str, str]:
    """Turn Litestar/msgspec's {"key": "data", "message": "... - at `$.email`"} into {"field": "email", ...}."""
    if not isinstance(item, dict):
        return {"field": "body", "message": str(item)}
    key, message = str(item.get("key") or "body"), str(item.get("message", "Invalid value."))
    if match := _AT_PATH.match(message):
        return {"field": match["field"], "message": match["message"]}
    if match := _MISSING.search(message):
        return {"field": match["field"], "message": "This field is required."}
    if key == "data":
        return {"field": "body", "message": "A JSON object body is required." if message == "'data'" else message}
    return {"field": key, "message": message}


def validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = [_field_error(item) for item in (exc.extra if isinstance(exc.extra, list) else [])]
    if not errors:
        errors.append({"field": "body", "message": str(exc.detail)})
    return problem(422, "validation-error", "The request has invalid fields.", errors=errors)


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    slug = SLUG_BY_STATUS.get(status, "http-error")
    detail = exc.detail if status < 500 else HTTPStatus(status).description
    return problem(status, slug, detail, headers=exc.headers)


def unavailable_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.error("dependency.unavailable", extra={"error": type(exc).__name__})
    return problem(503, "service-unavailable", "A service this request needs is unavailable; try again shortly.")


def unexpected_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("http.unhandled_error", exc_info=exc)
    return problem(500, "internal-error", "Something went wrong on our side; it has been logged.")


UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    RedisError,
    OperationalError,
    DBAPIError,
    ConnectionError,
    TimeoutError,
)
"""A dependency (database, Redis, broker) that cannot be reached: 503, and nothing was done."""

EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_exception_handler,
    **dict.fromkeys(UNAVAILABLE_ERRORS, unavailable_handler),
    Exception: unexpected_handler,
}


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI responses for the problem details a route can answer."""
    specs: dict[int, ResponseSpec] = {}
    for status in sorted({400, *statuses}):  # 400: a malformed request (bad JSON, bad query) on any route
        model = ValidationProblem if status == 422 else Problem
        description = HTTPStatus(status).phrase
        specs[status] = ResponseSpec(data_container=model, description=description, media_type=PROBLEM_MEDIA_TYPE)
    return specs
