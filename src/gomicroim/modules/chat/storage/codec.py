"""How chat stores its events as JSON: conversation ``last_message`` and outbox payloads.

Rows outlive the code that wrote them (outbox rows until relayed, conversations forever), so
decoding is tolerant both ways: fields unknown to this version are ignored (a row written by a
newer version, read after a rollback) and fields added later take their defaults (a row
written before them). :class:`MessageRead` and :class:`MessageCommitted` therefore only ever
gain fields with defaults; ``MessageCommitted.schema_version`` marks a change that cannot be
expressed that way.
"""

from __future__ import annotations

import msgspec

from gomicroim.modules.chat.contract import MessageCommitted, MessageRead

_encoder = msgspec.json.Encoder()
_message = msgspec.json.Decoder(MessageRead)
_committed = msgspec.json.Decoder(MessageCommitted)


def encode(value: MessageRead | MessageCommitted) -> str:
    """The stored JSON text of a message or a committed-message event."""
    return _encoder.encode(value).decode()


def decode_message(text: str | bytes) -> MessageRead:
    """A stored :class:`MessageRead`, from whichever version wrote it."""
    return _message.decode(text)


def decode_committed(text: str | bytes) -> MessageCommitted:
    """A stored :class:`MessageCommitted`, from whichever version wrote it."""
    return _committed.decode(text)
