"""``GET /ws`` in the OpenAPI document: how to open the push socket, its frames and closes.

OpenAPI cannot describe a WebSocket, so the upgrade is documented as an HTTP operation. A
plain GET (no ``Upgrade: websocket``) reaches this handler and is told how to upgrade; an
upgrade request never does, it goes to the gateway's WebSocket route on the same path.
"""

from __future__ import annotations

from litestar import MediaType, Response, get
from litestar.openapi import ResponseSpec
from litestar.params import Parameter

from gomicroim.http.errors import error_response
from gomicroim.http.openapi import BEARER, error_responses

WS_DESCRIPTION = """\
Open with a WebSocket upgrade (`Upgrade: websocket`). Authenticate with the access token in the
`token` query parameter or an `Authorization: Bearer` header. Frames are JSON text objects with
a `type`.

Server to client: `hello {user_id, device_id, node_id, latest_user_seq}` (always first),
`message {message, user_seq?}`, `read {conversation_id, user_id, seq}`, `kick {reason}`,
`pong`, `reauthed {access_expires_at}`, `error {code, message}`, `presence {user_id, online,
last_seen_at}` (a followed user's first device connected or last one disconnected). Client to
server: `ping`, `ack {user_seq}`, `reauth {access_token}` (extends the socket past its token's
expiry), `subscribe_presence {user_ids}` (follow these users' presence in place of the earlier
set; ids the caller shares no conversation with are dropped; more than
`presence.max_subscriptions` gets `error` `too_many_subscriptions`). A malformed or unknown
frame gets `error` with code `bad_frame`, a frame over the rate limit `error` with
`rate_limited`; the socket stays open.

Close codes: 4401 missing, invalid, expired or revoked token, or the session ended (logout,
another login of the device, refresh-token reuse; after `kick`); 4409 the device connected
again elsewhere (after `kick`); 4408 idle past `gateway.idle_timeout_s` (ping regularly);
4429 frames kept coming over `gateway.max_frames_per_second` (after `kick`); 1007 a text
frame that is not UTF-8; 1009 a frame over `gateway.max_frame_bytes`; 1013 the client read
too slowly, or an engine the gateway needs went down as it opened (reconnect and pull);
1001 the server is shutting down (reconnect elsewhere and pull). An upgrade over
`gateway.max_connections_per_user` or `_per_ip` is answered 429
`too_many_connections` with `Retry-After`; one while an engine it needs to check the session
or the connection caps (Redis, the database) is down is answered 503 `unavailable` with
`Retry-After`.

A plain GET without the upgrade is answered 426 `upgrade_required`.
"""


@get(
    "/ws",
    tags=["push"],
    summary="WebSocket for real-time pushes (upgrade)",
    description=WS_DESCRIPTION,
    exclude_from_auth=True,
    security=[{BEARER: []}, {}],
    responses={
        101: ResponseSpec(None, description="Switching Protocols: the WebSocket is open"),
        **error_responses([400, 414, 426, 429, 431, 503]),
    },
    status_code=426,
    media_type=MediaType.JSON,
)
async def websocket_upgrade_required(
    token: str | None = Parameter(
        query="token",
        required=False,
        max_length=4096,
        description="Access token, when the client cannot set an Authorization header",
    ),
) -> Response[bytes]:
    """Tell a plain HTTP client to upgrade; the token is neither checked nor echoed."""
    response = error_response(
        426,
        "upgrade_required",
        "this endpoint speaks WebSocket; send Upgrade: websocket",
        headers={"Upgrade": "websocket", "Connection": "Upgrade"},
    )
    return response
