"""Strict JSON request bodies: wrong types are errors, never silently converted."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec
from litestar import Request

from gomicroim.errors import InvalidInput

T = TypeVar("T")


async def decode_body(request: Request[Any, Any, Any], model: type[T]) -> T:
    """Decode the request body as ``model``.

    Raises:
        InvalidInput: ``malformed_json`` when the body is not JSON or repeats a key (``field``
            names it), ``invalid_field`` naming the first offending field when a value has the
            wrong type or is out of range.
    """
    raw = await request.body()
    try:
        value = msgspec.json.decode(raw, type=model)
    except msgspec.ValidationError as exc:
        text = str(exc)
        message, _, where = text.rpartition(" - at ")
        if message:
            field: str | None = where.strip("`").removeprefix("$.")
            text = f"{field}: {message}"
        else:
            field = _named_field(text)
        raise InvalidInput(text, code="invalid_field", field=field) from exc
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}", code="malformed_json") from exc
    _reject_duplicate_keys(raw)
    return value


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKey(key)
        obj[key] = value
    return obj


def _reject_duplicate_keys(raw: bytes) -> None:
    # msgspec keeps the last of two equal keys; another parser in front of us (a proxy, a WAF)
    # may keep the first. Refusing them leaves no room for the two to disagree. msgspec has
    # already accepted the document, so the stdlib parser here only looks for repeated names
    # (also spelled differently, like "to" and "\u0074o").
    try:
        json.loads(raw, object_pairs_hook=_unique_pairs)
    except _DuplicateKey as exc:
        raise InvalidInput(
            f"request body repeats the key {exc.key!r}; send each key once",
            code="malformed_json",
            field=exc.key,
        ) from exc


def _named_field(text: str) -> str | None:
    # Root-level errors ("Object missing required field `to`") name the field in backticks.
    match = re.search(r"field `([^`]+)`", text)
    return match.group(1) if match else None
