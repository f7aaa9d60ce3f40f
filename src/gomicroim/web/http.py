"""Serves the web client: the page at ``/`` with its security headers, assets under ``/web/``."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, MediaType, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import Parameter

from gomicroim.web.bundle import Asset, load_bundle

AnyRequest = Request[Any, Any, Any]

#: A Host header we are willing to echo into the policy (name or IP literal, optional port).
_HOST = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?\Z")
#: Assets are named by a version that changes with their content, so they may be kept for good.
_IMMUTABLE = "public, max-age=31536000, immutable"
#: The page (and assets asked for under an old version) must be checked on every load.
_REVALIDATE = "no-cache"

_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    # No string ever reaches an HTML sink: the client builds DOM nodes and sets textContent.
    "require-trusted-types-for 'script'",
    "trusted-types 'none'",
)

#: Headers on every response of the web client.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def content_security_policy(host: str | None) -> str:
    """The page's policy: only this origin, plus its WebSocket URLs for ``/ws``.

    ``'self'`` covers ws/wss of the same host in current browsers; the explicit entries keep
    older ones working. A Host header that does not look like a host is left out, not echoed.
    """
    connect = "connect-src 'self'"
    if host and _HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    return "; ".join((*_POLICY, connect))


def _not_modified(request: AnyRequest, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags or "*" in tags


def _serve(request: AnyRequest, asset: Asset, cache_control: str) -> Response[bytes]:
    headers = {
        **SECURITY_HEADERS,
        "Content-Security-Policy": content_security_policy(request.headers.get("host")),
        "Cache-Control": cache_control,
        "ETag": asset.etag,
    }
    if _not_modified(request, asset.etag):
        return Response(b"", status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


class WebController(Controller):
    """The browser client; it talks to the server only through the public API and ``/ws``."""

    path = "/"
    tags = ["web client"]
    opt = {"exclude_from_auth": True}

    @get("/", media_type=MediaType.HTML, summary="The web chat client", sync_to_thread=False)
    def page(self, request: AnyRequest) -> Response[bytes]:
        """The client's page with its Content-Security-Policy; revalidated on every load."""
        return _serve(request, load_bundle().page, _REVALIDATE)

    @get(
        "/web/{version:str}/{name:path}",
        include_in_schema=False,
        sync_to_thread=False,
    )
    def asset(
        self,
        request: AnyRequest,
        version: str = Parameter(description="the bundle version the page names"),
        name: str = Parameter(description="the file's path inside the bundle"),
    ) -> Response[bytes]:
        """A script, style sheet or image of the client."""
        bundle = load_bundle()
        asset = bundle.assets.get(name.lstrip("/"))
        if asset is None:
            raise NotFoundException()
        return _serve(request, asset, _IMMUTABLE if version == bundle.version else _REVALIDATE)
