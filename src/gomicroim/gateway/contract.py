"""What the fan-out worker hands a gateway node: push batches addressed to devices."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import msgspec


class PushTarget(msgspec.Struct, frozen=True, array_like=True):
    """One device to push to, with the message's user seq in that user's timeline, if any."""

    user_id: int
    device_id: str
    user_seq: int | None = None


#: ``message``, ``recall``, ``edit``: the payload is a message (for the latter two, its new
#: revision); ``read``, ``typing``, ``settings``: the payload holds the frame's fields.
PushKind = Literal["message", "read", "recall", "edit", "typing", "settings"]


class Push(msgspec.Struct, frozen=True, kw_only=True):
    """One event for many devices; ``payload`` is the event's JSON, encoded once."""

    kind: PushKind
    payload: msgspec.Raw
    targets: list[PushTarget]


class PushBatch(msgspec.Struct, frozen=True, kw_only=True):
    """Pushes for one gateway node, in order; ``created_at`` lets a node drop stale ones."""

    node_id: str
    created_at: int
    pushes: list[Push]


@runtime_checkable
class PushRouter(Protocol):
    """Gets a batch to the gateway node that holds the devices."""

    async def route(self, batch: PushBatch) -> None:
        """Deliver (in process) or produce (to the node's partition) one batch."""
        ...
