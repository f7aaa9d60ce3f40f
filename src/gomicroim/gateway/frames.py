"""WebSocket frames of DESIGN §8: JSON objects with a ``type``.

Push frames are assembled from an already encoded payload so a message is serialised once,
whatever the number of devices it goes to; only the per-user ``user_seq`` differs.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import msgspec

# Close codes, documented in the README.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_NOT_UTF8 = 1007
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNAUTHENTICATED = 4401
CLOSE_IDLE = 4408
CLOSE_REPLACED = 4409
CLOSE_TOO_MANY = 4429

#: Largest access token a ``reauth`` frame may carry (ours are a few hundred bytes).
MAX_TOKEN_CHARS = 4096

UserSeq = Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)]
UserId = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]


class Hello(msgspec.Struct, tag="hello", tag_field="type"):
    """First frame after authentication."""

    user_id: int
    device_id: str
    node_id: str
    latest_user_seq: int


class Kick(msgspec.Struct, tag="kick", tag_field="type"):
    """Sent before the server closes a connection on purpose."""

    reason: str


class Pong(msgspec.Struct, tag="pong", tag_field="type"):
    """Answer to ``ping``."""


class Reauthed(msgspec.Struct, tag="reauthed", tag_field="type"):
    """Answer to a good ``reauth``: the socket now lives until ``access_expires_at`` (Unix ms)."""

    access_expires_at: int


class ErrorFrame(msgspec.Struct, tag="error", tag_field="type"):
    """A client frame was not understood or not allowed; the connection stays open."""

    code: str
    message: str


class PresenceFrame(msgspec.Struct, tag="presence", tag_field="type"):
    """A followed user's first device connected (``online``) or last one disconnected."""

    user_id: int
    online: bool
    #: Unix ms of the disconnect when offline; null when online.
    last_seen_at: int | None


class Ping(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    """Client keep-alive."""


class Ack(msgspec.Struct, tag="ack", tag_field="type", forbid_unknown_fields=True):
    """Client confirms it has stored its timeline up to ``user_seq``."""

    user_seq: UserSeq = msgspec.field(default=0)


class Reauth(msgspec.Struct, tag="reauth", tag_field="type", forbid_unknown_fields=True):
    """Client hands over a fresh access token of the same user and device before the old expires."""

    access_token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOKEN_CHARS)]


class Typing(msgspec.Struct, tag="typing", tag_field="type", forbid_unknown_fields=True):
    """Client is typing in a conversation; relayed to the other participants, never stored."""

    conversation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class SubscribePresence(
    msgspec.Struct, tag="subscribe_presence", tag_field="type", forbid_unknown_fields=True
):
    """Client follows these users' presence from now on, in place of any earlier set.

    The count is checked by the gateway (``presence.max_subscriptions``), not here, so that
    too many ids get their own error code rather than ``bad_frame``.
    """

    user_ids: list[UserId]


ClientFrame = Ping | Ack | Reauth | Typing | SubscribePresence
ServerFrame = Hello | Kick | Pong | Reauthed | ErrorFrame | PresenceFrame

EXPECTED = (
    '{"type":"ping"}, {"type":"ack","user_seq":N}, {"type":"reauth","access_token":"..."},'
    ' {"type":"typing","conversation_id":"..."}'
    ' or {"type":"subscribe_presence","user_ids":[N, ...]}'
)

_encoder = msgspec.json.Encoder()
_client_decoder = msgspec.json.Decoder(ClientFrame)


class BadFrame(Exception):
    """A client frame that is not one of :data:`ClientFrame`; the message says what is wrong."""


def encode(frame: ServerFrame) -> str:
    """A server frame as JSON text."""
    return _encoder.encode(frame).decode()


PONG = encode(Pong())


def decode_client(data: str | bytes) -> ClientFrame:
    """Parse a client text frame.

    Raises:
        BadFrame: for binary data, anything not JSON, JSON nested too deep to parse, an
            object with a repeated key, or an object that is not a known frame.
    """
    if not isinstance(data, str):
        raise BadFrame(f"binary frames are not accepted; send JSON text: {EXPECTED}")
    try:
        frame: ClientFrame = _client_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BadFrame(f"{exc}; expected {EXPECTED}") from None
    except RecursionError:
        # msgspec gives up on very deep nesting by raising this, not a DecodeError.
        raise BadFrame(f"JSON nested too deep; expected {EXPECTED}") from None
    # msgspec keeps the last of repeated keys; other parsers keep the first. A frame that means
    # different things to different readers is refused. Known frames are flat and small, so
    # this second parse is cheap and cannot recurse.
    json.loads(data, object_pairs_hook=_unique_keys)
    return frame


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BadFrame(f"key {key!r} appears more than once; send each key once")
        out[key] = value
    return out


def push_frame(
    kind: Literal["message", "read", "recall", "edit", "typing", "settings"],
    payload: str,
    user_seq: int | None,
) -> str:
    """Splice an encoded payload into a push frame.

    ``message``, ``recall``, ``edit``: ``{"type":KIND,"message":{...},"user_seq":N}``
    (``user_seq`` only for write fan-out); ``read``, ``typing``, ``settings``: the payload
    already holds the frame's fields.
    """
    if kind in ("read", "typing", "settings"):
        return '{"type":"' + kind + '",' + payload[1:]
    head = '{"type":"' + kind + '","message":' + payload
    if user_seq is None:
        return head + "}"
    return head + ',"user_seq":' + str(user_seq) + "}"
