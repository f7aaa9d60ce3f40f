"""The webhook's HTTP client (httpx): one pooled client per process."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from gomicroim.modules.notifications.ports import WebhookError


class HttpxTransport:
    """:class:`~gomicroim.modules.notifications.ports.WebhookTransport` over httpx."""

    def __init__(self, *, url: str, timeout_s: float):
        """Nothing connects until the first POST."""
        self._url = url
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        """POST ``body``; redirects are not followed (a signed body goes where configured)."""
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False)
        try:
            response = await self._client.post(self._url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            raise WebhookError(f"{type(exc).__name__}: {exc}") from exc
        return response.status_code

    async def close(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
