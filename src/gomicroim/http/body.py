"""Strict JSON request bodies: wrong types are errors, never silently converted."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request

from gomicroim.errors import InvalidInput

T = TypeVar("T")


async def decode_body(request: Request[Any, Any, Any], model: type[T]) -> T:
    """Decode the request body as ``model``.

    Raises:
        InvalidInput: ``malformed_json`` when the body is not JSON, ``invalid_field`` naming the
            first offending field when a value has the wrong type or is out of range.
    """
    raw = await request.body()
    try:
        return msgspec.json.decode(raw, type=model)
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


def _named_field(text: str) -> str | None:
    # Root-level errors ("Object missing required field `to`") name the field in backticks.
    match = re.search(r"field `([^`]+)`", text)
    return match.group(1) if match else None
