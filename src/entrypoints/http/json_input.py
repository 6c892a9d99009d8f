"""Where every JSON request body is decoded (the app's `request_class`), and the rules every body obeys before
any route sees it:

- nested at most MAX_DEPTH levels, checked by a byte scan before anything that recurses (msgspec's decoder,
  the conversion into a route's struct) runs: a body of a few KB nested a thousand levels deep would otherwise
  exhaust the interpreter's stack;
- valid JSON, and an object;
- text is text: no string anywhere in the body holds a NUL character or a lone surrogate (PostgreSQL cannot
  store the first, no encoder can write the second), whatever the database behind.

A body that breaks the first two is a MalformedBody (400); a string that breaks the third is an InvalidInput
naming the field (422 on /api, 400 with `param` on /v1), so nothing of it reaches a use case."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ClientException

from domain.shared.errors import InvalidInput

MAX_DEPTH = 64
"""The deepest nesting of objects and arrays a body may have (the bodies the routes read nest 4 levels at most)."""

_decode = msgspec.json.Decoder().decode
_ESCAPED_BACKSLASH = b"\\\\"
_ESCAPED_QUOTE = b'\\"'
_OPEN = b"\x01"
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes
_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


class MalformedBody(ClientException):
    """A body that is not a JSON object nested at most MAX_DEPTH levels: 400. `code` is the stable slug."""

    status_code = 400

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail=detail)
        self.code = code


def nesting_depth_exceeds(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """True if `body`, read as JSON, nests objects and arrays deeper than `limit`; what is not JSON at all is
    left to the decoder. No loop in Python over the body's bytes: a body with at most `limit` opening brackets
    (nearly every one) cannot nest deeper, which a few searches tell. Otherwise escaped backslashes and quotes
    are dropped, then every byte but quotes and brackets; what lies between quotes is string content, and the
    brackets left, as +1 and -1, are summed."""
    if _fewer_than(body, limit + 1):
        return False
    if _ESCAPED_BACKSLASH in body:  # before a quote, it is not the quote that is escaped
        body = body.replace(_ESCAPED_BACKSLASH, b"")
    if _ESCAPED_QUOTE in body:
        body = body.replace(_ESCAPED_QUOTE, b"")
    structure = b"".join(body.translate(_STEPS, _NOT_STRUCTURE).split(b'"')[::2])
    if len(structure) <= limit:
        return False
    if _OPEN * (limit + 1) in structure:
        return True
    return max(accumulate(memoryview(structure).cast("b"))) > limit


def _fewer_than(body: bytes, count: int) -> bool:
    """True if `body` holds fewer than `count` opening brackets (one search per bracket, at C speed)."""
    for bracket in (b"[", b"{"):
        at = body.find(bracket)
        while at >= 0:
            count -= 1
            if count == 0:
                return False
            at = body.find(bracket, at + 1)
    return True


def decode_body(body: bytes) -> Any:
    """The JSON object in `body` (None for an empty body), or MalformedBody / InvalidInput."""
    if not body:
        return None
    if nesting_depth_exceeds(body):
        raise MalformedBody("json-too-deep", f"The JSON body is nested deeper than {MAX_DEPTH} levels, or truncated.")
    try:
        value = _decode(body)
    except msgspec.DecodeError as error:
        _raise_for_bad_text(body)
        raise MalformedBody("invalid-json", f"The body is not valid JSON: {error}.") from None
    if not isinstance(value, dict):
        raise MalformedBody("not-an-object", "The body must be a JSON object.")
    if (path := bad_text_at(value)) is not None:
        _refuse(value, path)
    return value


def _raise_for_bad_text(body: bytes) -> None:
    """msgspec refuses a lone surrogate (and a raw control character in a string) as malformed JSON, and a number
    out of range (1e400), NaN and Infinity too; Python's lenient reader accepts them all, so the field that holds
    one can be named (422). Only on the error path."""
    try:
        value = json.loads(body, strict=False)
    except (ValueError, RecursionError):
        return
    if isinstance(value, dict) and (path := _path_to(value, _not_finite)) is not None:
        raise InvalidInput(_field(path), "Numbers must be finite and within the range of a 64-bit float.")
    if isinstance(value, dict) and (path := bad_text_at(value)) is not None:
        _refuse(value, path)


def _not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _path_to(value: Any, bad: Callable[[Any], bool]) -> list[str | int] | None:
    """The path to the first value `bad` accepts, innermost key first (see bad_text_at)."""
    if bad(value):
        return []
    items: Any = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if (path := _path_to(item, bad)) is not None:
            path.append(key)
            return path
    return None


def bad_text_at(value: Any) -> list[str | int] | None:
    """The path to the first string holding a NUL or a lone surrogate, innermost key last; None if there is none."""
    if isinstance(value, str):
        if "\x00" in value or (not value.isascii() and _NOT_TEXT.search(value)):
            return []
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if (path := bad_text_at(item)) is not None:
            path.append(key)
            return path
    return None


def _field(reversed_path: list[str | int]) -> str:
    """`messages[0].content` for ["content", 0, "messages"]."""
    field = ""
    for part in reversed(reversed_path):
        field += f"[{part}]" if isinstance(part, int) else f".{part}" if field else str(part)
    return field or "body"


def _refuse(body: dict[str, Any], reversed_path: list[str | int]) -> None:
    value: Any = body
    for part in reversed(reversed_path):
        value = value[part]
    what = "a NUL character" if "\x00" in value else "a lone surrogate (not Unicode text)"
    raise InvalidInput(_field(reversed_path), f"Text must not contain {what}.")


class JsonRequest(Request[Any, Any, Any]):
    """Litestar's request, with the body decoded by `decode_body`."""

    async def json(self) -> Any:
        return decode_body(await self.body())
