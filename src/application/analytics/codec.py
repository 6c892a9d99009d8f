"""Answers to and from JSON bytes, for the cache: dataclasses, lists, dates and times, numbers, strings and
None, rebuilt from the answer's type hints (nothing but data is ever read back from the cache)."""

from __future__ import annotations

import dataclasses
import json
import types
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin, get_type_hints


def encode(value: Any) -> bytes:
    return json.dumps(plain(value), separators=(",", ":")).encode()


def decode(kind: Any, data: bytes) -> Any:
    return rebuild(kind, json.loads(data))


def plain(value: Any) -> Any:
    """`value` as JSON-ready data (dates and times as ISO text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    return value


def rebuild(kind: Any, value: Any) -> Any:
    """The value of type `kind` that `plain` turned into `value`."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        [kind] = [arg for arg in get_args(kind) if arg is not type(None)]
        return rebuild(kind, value)
    if origin is list:
        [item] = get_args(kind)
        return [rebuild(item, element) for element in value]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        return kind(**{item.name: rebuild(hints[item.name], value[item.name]) for item in dataclasses.fields(kind)})
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    if kind is float:
        return float(value)
    return value
