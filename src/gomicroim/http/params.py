"""Strict path ids: plain ASCII digits only, as the OpenAPI document says.

Litestar parses ``{user_id:int}`` with :func:`int`, which also takes an Arabic-Indic one
(U+0661), ``" 1"``, ``"+1"`` and ``"01"``: several spellings of one resource, which caches,
logs and access rules keyed by path would tell apart. This hook refuses them before the
handler runs.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request

from gomicroim.errors import InvalidInput

_PLAIN_ID = re.compile(r"(?:0|[1-9][0-9]*)\Z")

#: How the rule reads in the OpenAPI document, on every integer path parameter.
PATH_ID_RULE = "Plain ASCII digits, no sign, spaces or leading zeros; anything else is 400."


async def strict_path_ids(request: Request[Any, Any, Any]) -> None:
    """Reject integer path parameters not written as plain ASCII digits (400 ``invalid_field``).

    A coroutine although it never awaits: Litestar runs a plain function hook in a worker
    thread, a thread hop on every request.

    Raises:
        InvalidInput: naming the parameter in ``field``.
    """
    params = request.path_params
    if not any(type(v) is int for v in params.values()):
        return
    template = str(request.scope.get("path_template") or "").split("/")
    for pattern, raw in zip(template, request.scope["path"].split("/"), strict=False):
        name = pattern[1:-1] if pattern.startswith("{") and pattern.endswith("}") else None
        if name is not None and type(params.get(name)) is int and not _PLAIN_ID.match(raw):
            raise InvalidInput(
                f"{name}: must be written in plain ASCII digits", code="invalid_field", field=name
            )
