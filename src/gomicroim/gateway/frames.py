"""WebSocket frames of DESIGN §8: JSON objects with a ``type``.

Push frames are assembled from an already encoded payload so a message is serialised once,
whatever the number of devices it goes to; only the per-user ``user_seq`` differs.
"""

from __future__ import annotations

from typing import Literal

import msgspec

# Close codes, documented in the README.
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_UNAUTHENTICATED = 4401
CLOSE_IDLE = 4408
CLOSE_REPLACED = 4409


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


class ErrorFrame(msgspec.Struct, tag="error", tag_field="type"):
    """A client frame was not understood; the connection stays open."""

    code: str
    message: str


class Ping(msgspec.Struct, tag="ping", tag_field="type", forbid_unknown_fields=True):
    """Client keep-alive."""


class Ack(msgspec.Struct, tag="ack", tag_field="type", forbid_unknown_fields=True):
    """Client confirms it has stored its timeline up to ``user_seq``."""

    user_seq: int = msgspec.field(default=0)


ClientFrame = Ping | Ack
ServerFrame = Hello | Kick | Pong | ErrorFrame

_encoder = msgspec.json.Encoder()
_client_decoder = msgspec.json.Decoder(ClientFrame)


def encode(frame: ServerFrame) -> str:
    """A server frame as JSON text."""
    return _encoder.encode(frame).decode()


PONG = encode(Pong())


def decode_client(text: str | bytes) -> ClientFrame:
    """Parse a client frame; raises ``msgspec.DecodeError``/``ValidationError`` when invalid."""
    frame: ClientFrame = _client_decoder.decode(text)
    return frame


def push_frame(kind: Literal["message", "read"], payload: str, user_seq: int | None) -> str:
    """Splice an encoded payload into a push frame.

    ``message``: ``{"type":"message","message":{...},"user_seq":N}`` (``user_seq`` only for
    write fan-out); ``read``: the payload already holds the read fields.
    """
    if kind == "read":
        return '{"type":"read",' + payload[1:]
    if user_seq is None:
        return '{"type":"message","message":' + payload + "}"
    return '{"type":"message","message":' + payload + ',"user_seq":' + str(user_seq) + "}"
