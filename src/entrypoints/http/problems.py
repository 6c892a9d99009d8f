"""RFC 9457 problem details for every error: domain errors, framework errors, validation, the unexpected.
The `type` is the stable slug clients compare on; nothing of a stack trace ever reaches a body."""

from __future__ import annotations

import logging
import re
import sqlite3
from http import HTTPStatus
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from redis.exceptions import ClusterDownError, ReadOnlyError, RedisError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, DisconnectionError, EmulatedDBAPIException, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SqlTimeoutError

from domain.billing.errors import NoSubscription, PaymentFailed
from domain.conversation.errors import (
    AccountRevoked,
    ModelNotAllowed,
    ProviderUnavailable,
    QuotaExceeded,
    QuotaUnavailable,
)
from domain.identity.errors import (
    AccountDisabled,
    EmailNotVerified,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    Unauthenticated,
)
from domain.shared.errors import Conflict, DomainError, InvalidInput, NotFound, RateLimited, Unavailable
from entrypoints.http.json_input import MalformedBody

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
    AccountDisabled: 401,
    AccountRevoked: 401,
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


def field_error(item: Any) -> dict[str, str]:
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


def validation_errors(exc: ValidationException) -> list[dict[str, str]]:
    """Every field a validation error names, as `field_error` gives it; the body alone when it names none."""
    errors = [field_error(item) for item in (exc.extra if isinstance(exc.extra, list) else [])]
    return errors or [{"field": "body", "message": str(exc.detail)}]


def validation_handler(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = validation_errors(exc)
    return problem(422, "validation-error", "The request has invalid fields.", errors=errors)


def http_exception_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    slug = exc.code if isinstance(exc, MalformedBody) else SLUG_BY_STATUS.get(status, "http-error")
    detail = exc.detail if status < 500 else HTTPStatus(status).description
    return problem(status, slug, detail, headers=exc.headers)


def unavailable_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """An error of the database or Redis client: 503 if the service is down, else a bug (500)."""
    if not is_outage(exc):
        return unexpected_handler(request, exc)
    log_outage(exc)
    return problem(503, "service-unavailable", "A service this request needs is unavailable; try again shortly.")


def unexpected_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log_bug(request, exc)
    return problem(500, "internal-error", "Something went wrong on our side; it has been logged.")


def log_outage(exc: BaseException) -> None:
    """The error's class and the driver's (never its message: SQLAlchemy's carries the statement's parameters)."""
    cause = getattr(exc, "orig", None) or exc.__cause__
    cause = getattr(cause, "__cause__", None) or cause  # asyncpg's error, behind SQLAlchemy's adapter
    extra = {"error": type(exc).__name__, "cause": type(cause).__name__ if cause is not None else None}
    log.error("dependency.unavailable", extra=extra)


def log_bug(request: Request[Any, Any, Any], exc: BaseException) -> None:
    """A 500: Parley failed. The traceback, and the request's id so that the client's report finds it."""
    request_id = request.scope.get("state", {}).get("request_id")
    log.error(
        "http.unhandled_error",
        exc_info=exc,
        extra={"request_id": request_id, "method": request.method, "path": request.url.path},
    )


DRIVER_ERRORS: tuple[type[Exception], ...] = (
    EmulatedDBAPIException,  # what SQLAlchemy's async adapters raise on a raw connection (the direct path)
    sqlite3.Error,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    RedisError,
    SQLAlchemyError,
    *DRIVER_ERRORS,
    ConnectionError,
    TimeoutError,
)
"""The errors of the clients of a dependency (database, Redis): `is_outage` tells the service being down (503,
and nothing was done) from a bug (500)."""

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, TryAgainError, ClusterDownError)
_DRIVER_DOWN = (
    OSError,  # refused, reset, unreachable, name resolution
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, and a connection that is gone
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,  # starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)
_SQLITE_BUSY = ("database is locked", "database table is locked", "unable to open database file")


def is_outage(exc: BaseException) -> bool:
    """True when the dependency behind `exc` is down or saturated (try again shortly); False for an error that
    retrying cannot fix: a constraint, a missing table, bad SQL, a value the database refuses."""
    if isinstance(exc, SqlTimeoutError | DisconnectionError):  # the pool had no connection to give in time
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or _driver_down(exc.orig)
    if isinstance(exc, DRIVER_ERRORS):
        return _driver_down(exc)
    if isinstance(exc, RedisError):
        return isinstance(exc, _REDIS_DOWN)
    return isinstance(exc, ConnectionError | TimeoutError)


def _driver_down(error: BaseException | None) -> bool:
    """The driver's error, or what caused it (SQLAlchemy's asyncpg adapter raises its own error from asyncpg's)."""
    for _ in range(4):
        if error is None:
            return False
        if isinstance(error, _DRIVER_DOWN):
            return True
        if isinstance(error, sqlite3.OperationalError) and str(error).startswith(_SQLITE_BUSY):
            return True
        error = error.__cause__ or error.__context__
    return False


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
