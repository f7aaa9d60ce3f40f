"""What the OpenAPI document says about each route: body, error statuses, auth, and ``/ws``.

Handlers decode their bodies with :func:`gomicroim.http.body.decode_body` (strict: ``"2"`` is
not ``2``), so Litestar never sees a ``data`` parameter and would document no request body.
:func:`documented` puts the body's msgspec schema back into the route's operation, and the
error statuses the route can answer, each with the one error shape.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import (
    Components,
    Link,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    RequestBody,
    SecurityScheme,
)

from gomicroim.http.errors import ErrorResponse

#: The name of the bearer-token security scheme in ``components.securitySchemes``.
BEARER = "BearerToken"

#: What each error status means on this API; the body is always :class:`ErrorResponse`.
ERROR_MEANINGS = {
    400: "Invalid request: malformed JSON, a duplicate key, a wrong type or a value out of range"
    " (`invalid_field` names it in `field`), or a rule the request breaks",
    401: "Missing, invalid, expired or revoked token, or wrong credentials",
    403: "The caller may not touch this resource",
    404: "The addressed user, group or conversation does not exist",
    409: "The request clashes with current state",
    413: "The body is larger than `server.max_request_bytes`, or a field over its limit",
    414: "The request line (method and URL) is over `server.max_header_bytes`",
    426: "Not a WebSocket upgrade request; open it with `Upgrade: websocket`",
    429: "Too many requests; wait `Retry-After` seconds",
    431: "The request head is over `server.max_header_bytes` or `server.max_headers`",
    503: "A dependency (the database) is down; retry after `Retry-After` seconds",
}

#: Components every document carries: the bearer scheme (errors come in through responses).
COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="The `access_token` from `POST /api/v1/auth/login` or `/refresh`.",
        )
    }
)


def error_responses(statuses: Iterable[int]) -> dict[int, ResponseSpec]:
    """Response specs for ``statuses``, each with the error shape."""
    return {
        status: ResponseSpec(
            ErrorResponse, description=ERROR_MEANINGS[status], generate_examples=False
        )
        for status in sorted(set(statuses))
    }


def _body_schema(model: type[msgspec.Struct]) -> dict[str, Any]:
    _, components = msgspec.json.schema_components(
        [model], ref_template="#/components/schemas/{name}"
    )
    if set(components) != {model.__name__}:
        # A nested Struct would need its own component, which an operation cannot add.
        raise TypeError(f"request body {model.__name__} must be a flat Struct")
    return dict(components[model.__name__])


def operation_ref(path: str, method: str) -> str:
    """A JSON pointer to the operation ``method path`` for a link's ``operationRef``."""
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method.lower()


def link(
    path: str,
    method: str,
    *,
    parameters: dict[str, str] | None = None,
    body: dict[str, object] | None = None,
    description: str | None = None,
) -> Link:
    """An OpenAPI link from a response to the operation it enables.

    Clients and fuzzers follow these: a created group's id into its members, a stored message
    into its history.
    """
    return Link(
        operation_ref=operation_ref(path, method),
        parameters=parameters,
        request_body=body,
        description=description,
    )


def _operation_class(
    model: type[msgspec.Struct] | None, links: dict[int, dict[str, Link]]
) -> type[Operation]:
    schema = _body_schema(model) if model is not None else None

    @dataclass
    class DocumentedOperation(Operation):
        def __post_init__(self) -> None:
            if schema is not None:
                self.request_body = RequestBody(
                    required=True,
                    description=schema.get("description"),
                    content={"application/json": OpenAPIMediaType(schema=schema)},  # type: ignore[arg-type]
                )
            for status, named in links.items():
                response = (self.responses or {}).get(str(status))
                if isinstance(response, OpenAPIResponse):
                    response.links = dict(named)

    return DocumentedOperation


def documented(
    *statuses: int,
    body: type[msgspec.Struct] | None = None,
    public: bool = False,
    extra: dict[int, ResponseSpec] | None = None,
    links: dict[int, dict[str, Link]] | None = None,
) -> dict[str, Any]:
    """Route-decorator arguments that document a route truthfully.

    Every route can answer 400 (bad parameters), 414 and 431 (oversized request line or head)
    and 503 (database down); authenticated routes also 401 and 429, and a route with a body 413.

    Args:
        *statuses: further error statuses the route answers (403, 404, 409...).
        body: the Struct the handler decodes with ``decode_body``.
        public: the route needs no token (``exclude_from_auth``).
        extra: further non-error responses, e.g. a second success status.
        links: per success status, the operations its response enables (see :func:`link`).

    Returns:
        ``responses``, ``security`` and, with a body, ``operation_class``, plus
        ``exclude_from_auth`` for public routes.
    """
    codes = {400, 414, 431, 503, *statuses}
    if not public:
        codes |= {401, 429}
    if body is not None:
        codes.add(413)
    kwargs: dict[str, Any] = {"responses": {**error_responses(codes), **(extra or {})}}
    if public:
        kwargs["exclude_from_auth"] = True
    else:
        kwargs["security"] = [{BEARER: []}]
    if body is not None or links:
        kwargs["operation_class"] = _operation_class(body, links or {})
    return kwargs
